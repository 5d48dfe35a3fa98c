"""Onboarding and document-signer checks (dho.trust.pki), with certificates from dho.trust.testpki."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from dho.trust import testpki
from dho.trust.keys import dcc_usages
from dho.trust.outcome import CODES
from dho.trust.pki import (
    PkiError,
    add_years,
    check_algorithm,
    check_dsc,
    check_participant_certificate,
    find_issuer,
)

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def sca_de() -> testpki.Party:
    return testpki.make_sca("DE")


@pytest.fixture(scope="module")
def sca_fr() -> testpki.Party:
    return testpki.make_sca("FR")


def run_dsc(dsc: testpki.Party, scas: list[testpki.Party], *, uploader="DE", kids=(), thumbs=(), now=None,
            session=None) -> bytes:
    return check_dsc(dsc.cert, uploader_country=uploader, scas=[s.cert for s in scas], existing_kids=set(kids),
                     existing_thumbprints=set(thumbs), now=now or NOW, session_country=session)


def code_of(fn, *args, **kwargs) -> str:
    with pytest.raises(PkiError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.failure.code == err.code and err.code in CODES  # every raised code is registered
    return err.code


# --- the test PKI itself ----------------------------------------------------------------------------------

def test_testpki_certificates_have_the_fields_the_checks_read(sca_de):
    dsc = testpki.make_dsc(sca_de, usages="tv")
    sca_ext = sca_de.cert.extensions
    assert sca_ext.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert sca_ext.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    assert sca_de.cert.issuer == sca_de.cert.subject
    aki = dsc.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == sca_de.ski
    assert dsc.country == "DE" and dsc.cert.issuer == sca_de.cert.subject
    assert dcc_usages(dsc.cert) == frozenset("tv")
    assert len(dsc.kid) == 8 and dsc.kid != testpki.make_dsc(sca_de).kid
    tls = testpki.make_tls("DE").cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in tls


# --- onboarding ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("group, maker", [("TLS", testpki.make_tls), ("UP", testpki.make_up),
                                          ("SCA", testpki.make_sca)])
def test_participant_certificates_pass(group, maker):
    party = maker("DE")
    assert check_participant_certificate(party.cert, group=group, country="DE", now=NOW) == party.thumbprint


def test_participant_country_may_be_given_in_several_spellings():
    sca = testpki.make_sca("XA")
    assert check_participant_certificate(sca.cert, group="SCA", country={"XA", "XXA"}, now=NOW)
    assert code_of(check_participant_certificate, sca.cert, group="SCA", country="XXA", now=NOW) == \
        "PKI_PARTICIPANT_COUNTRY"


@pytest.mark.parametrize("case, expected", [
    ("group", "PKI_GROUP"),
    ("country", "PKI_PARTICIPANT_COUNTRY"),
    ("expired", "PKI_PARTICIPANT_EXPIRED"),
    ("future", "PKI_PARTICIPANT_NOT_YET_VALID"),
    ("rsa1024", "PKI_PARTICIPANT_ALGORITHM"),
    ("up_as_sca", "PKI_SCA_NOT_CA"),
    ("sca_5_years", "PKI_SCA_SPAN"),
    ("up_as_tls", "PKI_TLS_CLIENT_AUTH"),
])
def test_participant_certificates_refused(case, expected):
    up = testpki.make_up("DE")
    cert, group, country, now = up.cert, "UP", "DE", NOW
    if case == "group":
        group = "DSC"
    elif case == "country":
        country = "FR"
    elif case == "expired":
        now = up.cert.not_valid_after_utc + timedelta(seconds=1)
    elif case == "future":
        now = up.cert.not_valid_before_utc - timedelta(seconds=1)
    elif case == "rsa1024":
        cert = testpki.make_up("DE", key="rsa1024").cert
    elif case == "up_as_sca":
        group = "SCA"
    elif case == "sca_5_years":
        cert, group = testpki.make_sca("DE", years=5).cert, "SCA"
    elif case == "up_as_tls":
        group = "TLS"
    assert code_of(check_participant_certificate, cert, group=group, country=country, now=now) == expected


def test_add_years_is_calendar_based():
    leap = datetime(2024, 2, 29, 12, tzinfo=UTC)
    assert add_years(leap, 4) == datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert add_years(leap, 1) == datetime(2025, 2, 28, 12, tzinfo=UTC)


def test_sca_of_exactly_four_years_passes_and_one_day_more_fails():
    start = NOW.replace(microsecond=0) - timedelta(days=1)
    days = (add_years(start, 4) - start).days
    exact = testpki.make_sca("DE", not_before=start, days=days)
    assert check_participant_certificate(exact.cert, group="SCA", country="DE", now=NOW) == exact.thumbprint
    longer = testpki.make_sca("DE", not_before=start, days=days + 1)
    assert code_of(check_participant_certificate, longer.cert, group="SCA", country="DE", now=NOW) == "PKI_SCA_SPAN"


# --- algorithm policy ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, allowed", [("ec", True), ("rsa", True), ("rsa3072", True), ("rsa1024", False),
                                          ("rsa4096", False), ("ec384", False), ("ed25519", False)])
def test_algorithm_policy(sca_de, key, allowed):
    cert = testpki.make_dsc(sca_de, key=key).cert
    if allowed:
        assert check_algorithm(cert) in ("EC-P256", "RSA-2048", "RSA-3072")
    else:
        assert code_of(check_algorithm, cert) == "PKI_ALGORITHM"


# --- document signers: accepted -----------------------------------------------------------------------------

def test_valid_dsc_returns_its_kid(sca_de):
    dsc = testpki.make_dsc(sca_de, usages="v")
    assert run_dsc(dsc, [sca_de]) == dsc.kid


def test_rsa_dsc_under_rsa_sca_passes():
    sca = testpki.make_sca("IT", key="rsa")
    dsc = testpki.make_dsc(sca, key="rsa")
    assert run_dsc(dsc, [sca], uploader="IT") == dsc.kid


def test_dsc_without_aki_chains_by_name_and_signature(sca_de):
    dsc = testpki.make_dsc(sca_de, include_aki=False)
    assert run_dsc(dsc, [testpki.make_sca("DE"), sca_de]) == dsc.kid


def test_issuer_is_found_among_several_scas(sca_de, sca_fr):
    dsc = testpki.make_dsc(sca_de)
    other_de = testpki.make_sca("DE")  # same subject name, other key
    assert find_issuer(dsc.cert, [sca_fr.cert, other_de.cert, sca_de.cert]) == sca_de.cert
    assert find_issuer(dsc.cert, [sca_de.cert], {"DE", "DEU"}) == sca_de.cert
    assert find_issuer(dsc.cert, [sca_de.cert], "FR") is None
    assert run_dsc(dsc, [sca_fr, other_de, sca_de]) == dsc.kid


def test_alpha3_uploader_spelling(sca_de):
    dsc = testpki.make_dsc(sca_de)
    assert run_dsc(dsc, [sca_de], uploader={"DE", "DEU"}, session="DEU") == dsc.kid


# --- document signers: each check, in order ------------------------------------------------------------------

def test_uploader_country_must_be_a_code_and_match_the_session(sca_de):
    dsc = testpki.make_dsc(sca_de)
    assert code_of(run_dsc, dsc, [sca_de], uploader="Germany") == "PKI_UPLOADER_COUNTRY"
    assert code_of(run_dsc, dsc, [sca_de], uploader="") == "PKI_UPLOADER_COUNTRY"
    assert code_of(run_dsc, dsc, [sca_de], uploader="DE", session="FR") == "PKI_UPLOADER_COUNTRY"


def test_dsc_country_must_be_the_uploaders(sca_de):
    dsc = testpki.make_dsc(sca_de)
    assert code_of(run_dsc, dsc, [sca_de], uploader="FR") == "PKI_DSC_COUNTRY"


def test_dsc_of_another_country_signed_by_an_sca_of_another_country(sca_de, sca_fr):
    # A DSC saying C=FR, issued by the German SCA, uploaded by France: no French SCA issued it.
    dsc = testpki.make_dsc(sca_de, country="FR")
    assert code_of(run_dsc, dsc, [sca_fr, sca_de], uploader="FR") == "PKI_NO_CHAIN"


def test_wrong_aki_has_no_chain(sca_de):
    dsc = testpki.make_dsc(sca_de, aki=b"\x01" * 20)
    assert code_of(run_dsc, dsc, [sca_de]) == "PKI_NO_CHAIN"


def test_matching_name_and_aki_but_wrong_signature_has_no_chain(sca_de):
    impostor = testpki.make_sca("DE")  # same subject, its own key
    dsc = testpki.make_dsc(sca_de, aki=impostor.ski)  # claims the impostor, signed by sca_de
    assert code_of(run_dsc, dsc, [impostor]) == "PKI_NO_CHAIN"
    assert code_of(run_dsc, dsc, []) == "PKI_NO_CHAIN"


def test_dsc_outliving_its_sca_fails_nesting():
    short_sca = testpki.make_sca("DE", years=1)
    dsc = testpki.make_dsc(short_sca, days=600)
    assert code_of(run_dsc, dsc, [short_sca]) == "PKI_VALIDITY_NESTING"


def test_dsc_starting_before_its_sca_fails_nesting(sca_de):
    dsc = testpki.make_dsc(sca_de, not_before=sca_de.cert.not_valid_before_utc - timedelta(days=1), days=30)
    assert code_of(run_dsc, dsc, [sca_de]) == "PKI_VALIDITY_NESTING"


@pytest.mark.parametrize("key", ["rsa1024", "ec384", "rsa4096", "ed25519"])
def test_dsc_algorithm_refused(sca_de, key):
    dsc = testpki.make_dsc(sca_de, key=key)
    assert code_of(run_dsc, dsc, [sca_de]) == "PKI_ALGORITHM"


def test_three_year_dsc_fails_span(sca_de):
    dsc = testpki.make_dsc(sca_de, days=3 * 365)
    assert code_of(run_dsc, dsc, [sca_de]) == "PKI_VALIDITY_SPAN"


def test_two_year_dsc_passes(sca_de):
    dsc = testpki.make_dsc(sca_de, days=730)
    assert run_dsc(dsc, [sca_de]) == dsc.kid


def test_expired_and_future_dsc():
    old_sca = testpki.make_sca("DE", not_before=NOW - timedelta(days=400))
    expired = testpki.make_dsc(old_sca, not_before=NOW - timedelta(days=100), days=30)
    assert code_of(run_dsc, expired, [old_sca]) == "PKI_EXPIRED"
    future = testpki.make_dsc(old_sca, not_before=NOW + timedelta(days=10), days=30)
    assert code_of(run_dsc, future, [old_sca]) == "PKI_NOT_YET_VALID"


def test_eku_without_dcc_usage_is_refused(sca_de):
    dsc = testpki.make_dsc(sca_de, extra_eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    assert code_of(run_dsc, dsc, [sca_de]) == "PKI_KEY_USAGE"
    mixed = testpki.make_dsc(sca_de, usages="r", extra_eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    assert run_dsc(mixed, [sca_de]) == mixed.kid


def test_key_usage_without_digital_signature_is_refused(sca_de):
    dsc = testpki.make_dsc(sca_de, digital_signature=False)
    assert code_of(run_dsc, dsc, [sca_de]) == "PKI_KEY_USAGE"


def test_duplicate_upload(sca_de):
    dsc = testpki.make_dsc(sca_de)
    assert code_of(run_dsc, dsc, [sca_de], kids={dsc.kid}, thumbs={dsc.thumbprint}) == "PKI_DUPLICATE"


def test_kid_collision_with_a_different_certificate(sca_de):
    dsc = testpki.make_dsc(sca_de)
    other = testpki.make_dsc(sca_de)
    assert code_of(run_dsc, dsc, [sca_de], kids={dsc.kid}, thumbs={other.thumbprint}) == "PKI_KID_COLLISION"


def test_first_failing_check_wins(sca_de, sca_fr):
    # Several faults at once: the code is the one of the earliest check.
    assert code_of(run_dsc, testpki.make_dsc(sca_de, country="FR", key="rsa1024", days=1200), [sca_fr],
                   uploader="DE") == "PKI_DSC_COUNTRY"
    assert code_of(run_dsc, testpki.make_dsc(sca_de, key="rsa1024", days=1200, aki=b"\x02" * 20),
                   [sca_de]) == "PKI_NO_CHAIN"
    assert code_of(run_dsc, testpki.make_dsc(sca_de, key="rsa1024", days=1200), [sca_de]) == "PKI_ALGORITHM"
    dsc = testpki.make_dsc(sca_de, days=1200, digital_signature=False)
    assert code_of(run_dsc, dsc, [sca_de], thumbs={dsc.thumbprint}) == "PKI_VALIDITY_SPAN"
    dsc = testpki.make_dsc(sca_de, digital_signature=False)
    assert code_of(run_dsc, dsc, [sca_de], thumbs={dsc.thumbprint}) == "PKI_KEY_USAGE"


def test_error_messages_exist_in_both_languages():
    for code, entry in CODES.items():
        if code.startswith("PKI_"):
            assert entry.en and entry.fr and entry.en != entry.fr
            for mark in ":;?!":
                assert f" {mark}" not in entry.fr, f"{code}: use a non-breaking space before {mark}"
