"""The trust network service over a real database (SQLite and PostgreSQL): onboarding, document signer
uploads and their refusals, trust lists, revocation, rules, DID documents, and the full journey that ends
with an offline verifier holding only what it downloaded."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import func, select, update

from dho.accounts.permissions import ANONYMOUS, CLI_OPERATOR, Grant, Principal
from dho.errors import Unauthenticated
from dho.trust import service, testpki
from dho.trust.did import verify_did_document
from dho.trust.hcert import HcertVerifier
from dho.trust.models import ParticipantCertificate, RevocationEntry, SignerCertificate
from dho.trust.service import TrustRejected
from dho.trust.trustlist import load_did_trustlist, load_gateway_trustlist, load_revocation, upload_thumbprints
from tests.trust.network import Country, batch, issue, rule

ANCHOR = testpki.make_anchor()


@pytest.fixture
def net(db):
    """A network with one onboarded participant (KE: SCA, UP, TLS)."""
    ke = Country.make("KE")
    with db.session() as s:
        for group, party in (("SCA", ke.sca), ("UP", ke.up), ("TLS", ke.tls)):
            service.onboard_participant(s, CLI_OPERATOR, country="KE", group=group, certificate=party.pem,
                                        anchor_key=ANCHOR.key, anchor_cert=ANCHOR.cert, name="Kenya")
    return db, ke


def code(exc_info) -> str:  # type: ignore[no-untyped-def]
    return exc_info.value.code


def upload(db, data: bytes, principal=CLI_OPERATOR):  # type: ignore[no-untyped-def]
    with db.session() as s:
        row = service.upload_dsc(s, principal, data, anchor_cert=ANCHOR.cert)
        return row.kid


def refused(db, fn, data: bytes, principal=CLI_OPERATOR) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(TrustRejected) as info, db.session() as s:
        fn(s, principal, data, anchor_cert=ANCHOR.cert)
    return code(info)


def export(db) -> list[dict]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return json.loads(json.dumps(service.trust_list(s, anchor_cert=ANCHOR.cert)))


def test_journey_onboard_upload_issue_revoke_delete(net):
    db, ke = net
    dsc = ke.new_dsc()
    assert upload(db, ke.sign(dsc.der)) == dsc.kid
    listed = export(db)
    assert {e["certificateType"] for e in listed} == {"DSC", "CSCA", "UPLOAD", "AUTHENTICATION"}
    assert set(listed[0]) == {"kid", "timestamp", "country", "certificateType", "thumbprint", "signature", "rawData"}

    cert = issue(dsc, "KE")
    verifier = HcertVerifier(load_gateway_trustlist(json.dumps(listed)))
    verdict = verifier.verify(cert.text)
    assert verdict.valid, verdict.failure

    with db.session() as s:
        service.upload_batch(s, CLI_OPERATOR, ke.sign_json(batch("KE", [cert.hashes()["SIGNATURE"]], kid=dsc.kid)),
                             anchor_cert=ANCHOR.cert)
        downloaded = json.loads(json.dumps(service.export_batches(s)))
    index = load_revocation(downloaded, uploaders=upload_thumbprints(listed))
    assert len(index) == 1
    verdict = HcertVerifier(load_gateway_trustlist(listed), revocation=index).verify(cert.text)
    assert not verdict.valid and verdict.failure.code == "HC_REVOKED"

    with db.session() as s:
        service.delete_dsc(s, CLI_OPERATOR, ke.sign(dsc.der), anchor_cert=ANCHOR.cert)
    after = export(db)
    assert not [e for e in after if e["certificateType"] == "DSC"]
    verdict = HcertVerifier(load_gateway_trustlist(after), revocation=index).verify(cert.text)
    assert verdict.failure.code == "HC_KID_UNKNOWN"


def test_tampered_registration_is_dropped_on_read(net):
    db, ke = net
    with db.session() as s:
        assert len(service.trusted_scas(s, "DCC", "KE", anchor_cert=ANCHOR.cert)) == 1
        row = s.execute(select(ParticipantCertificate).where(ParticipantCertificate.group == "SCA")).scalar_one()
        raw = bytearray(base64.b64decode(row.anchor_signature))
        raw[-1] ^= 1
        s.execute(update(ParticipantCertificate).where(ParticipantCertificate.id == row.id)
                  .values(anchor_signature=base64.b64encode(bytes(raw)).decode()))
    with db.session() as s:
        assert service.trusted_scas(s, "DCC", "KE", anchor_cert=ANCHOR.cert) == []
        report = {r["group"]: r["problem"] for r in service.participants(s, anchor_cert=ANCHOR.cert)}
    assert "signature" in report["SCA"] and report["UP"] is None
    # with its SCA gone, the participant's DSC uploads no longer chain
    assert refused(db, service.upload_dsc, ke.sign(ke.new_dsc().der)) == "PKI_NO_CHAIN"


def test_swapped_certificate_or_participant_is_detected(net):
    db, ke = net
    other = testpki.make_up("KE")
    with db.session() as s:
        s.execute(update(ParticipantCertificate).where(ParticipantCertificate.group == "UP")
                  .values(raw_der=other.der))
    with db.session() as s:
        problems = {r["group"]: r["problem"] for r in service.participants(s, anchor_cert=ANCHOR.cert)}
    assert "thumbprint" in problems["UP"]
    # the UP registration no longer counts: uploads signed with either key are refused
    assert refused(db, service.upload_dsc, ke.sign(ke.new_dsc().der)) == "TRUST_UPLOADER_UNKNOWN"


def test_tampered_dsc_leaves_the_trust_list(net):
    db, ke = net
    good, bad = ke.new_dsc(), ke.new_dsc()
    upload(db, ke.sign(good.der))
    upload(db, ke.sign(bad.der))
    assert len([e for e in export(db) if e["certificateType"] == "DSC"]) == 2
    forged = ke.new_dsc()  # a certificate nobody uploaded, written straight into the table
    with db.session() as s:
        s.execute(update(SignerCertificate).where(SignerCertificate.kid == bad.kid)
                  .values(raw_der=forged.der, thumbprint=forged.thumbprint, kid=forged.kid))
    kids = {e["kid"] for e in export(db) if e["certificateType"] == "DSC"}
    assert kids == {base64.b64encode(good.kid).decode()}


@pytest.mark.parametrize(("make", "expected"), [
    (lambda ke, other: ke.new_dsc(country="TZ"), "PKI_DSC_COUNTRY"),
    (lambda ke, other: testpki.make_dsc(other.sca, "KE"), "PKI_NO_CHAIN"),
    (lambda ke, other: ke.new_dsc(days=365 * 5), "PKI_VALIDITY_NESTING"),
    (lambda ke, other: ke.new_dsc(key="ec384"), "PKI_ALGORITHM"),
    (lambda ke, other: ke.new_dsc(not_before=datetime.now(UTC) + timedelta(days=2), days=30), "PKI_NOT_YET_VALID"),
    (lambda ke, other: ke.new_dsc(extra_eku=[ExtendedKeyUsageOID.CODE_SIGNING]), "PKI_KEY_USAGE"),
    (lambda ke, other: ke.new_dsc(digital_signature=False), "PKI_KEY_USAGE"),
])
def test_every_dsc_check_surfaces_through_the_upload(net, make, expected):
    db, ke = net
    other = Country.make("TZ")
    dsc = make(ke, other)
    assert refused(db, service.upload_dsc, ke.sign(dsc.der)) == expected
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(SignerCertificate)).scalar() == 0


def test_span_expiry_duplicate_and_kid_collision(net):
    db, ke = net
    long_sca = testpki.make_sca("KE", years=4, not_before=datetime.now(UTC) - timedelta(days=60))
    with db.session() as s:
        service.onboard_participant(s, CLI_OPERATOR, country="KE", group="SCA", certificate=long_sca.der,
                                    anchor_key=ANCHOR.key, anchor_cert=ANCHOR.cert)
    assert refused(db, service.upload_dsc, ke.sign(testpki.make_dsc(long_sca, days=365 * 3).der)) == \
        "PKI_VALIDITY_SPAN"
    old = testpki.make_dsc(long_sca, not_before=datetime.now(UTC) - timedelta(days=40), days=10)
    assert refused(db, service.upload_dsc, ke.sign(old.der)) == "PKI_EXPIRED"
    dsc = ke.new_dsc()
    upload(db, ke.sign(dsc.der))
    assert refused(db, service.upload_dsc, ke.sign(dsc.der)) == "PKI_DUPLICATE"
    with db.session() as s:  # another certificate with the same kid (a kid is a hash prefix: forge it in the DB)
        twin = ke.new_dsc()
        s.execute(update(SignerCertificate).values(kid=twin.kid))
    assert refused(db, service.upload_dsc, ke.sign(twin.der)) == "PKI_KID_COLLISION"


def test_wrong_signer_and_malformed_uploads_change_nothing(net):
    db, ke = net
    dsc = ke.new_dsc()
    stranger = testpki.make_up("KE")  # a valid UP certificate, never registered
    assert refused(db, service.upload_dsc, sign_with(stranger, dsc.der)) == "TRUST_UPLOADER_UNKNOWN"
    assert refused(db, service.upload_dsc, sign_with(ke.sca, dsc.der)) == "TRUST_UPLOADER_UNKNOWN"
    assert refused(db, service.upload_dsc, b"") == "PKI_CMS_MALFORMED"
    assert refused(db, service.upload_dsc, b"\x30\x03\x02\x01\x01") == "PKI_CMS_MALFORMED"
    assert refused(db, service.upload_dsc, dsc.der) == "PKI_CMS_MALFORMED"  # a bare certificate
    assert refused(db, service.upload_dsc, b"A" * 2_000_000) == "PKI_CMS_TOO_LARGE"
    assert refused(db, service.upload_dsc, ke.sign(b"not a certificate")) == "TRUST_DSC_UNREADABLE"
    tampered = bytearray(ke.sign(dsc.der))
    tampered[bytes(tampered).index(dsc.der) + 200] ^= 0x01  # a byte of the signed content
    assert refused(db, service.upload_dsc, bytes(tampered)) == "PKI_CMS_DIGEST"
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(SignerCertificate)).scalar() == 0


def sign_with(party: testpki.Party, content: bytes) -> bytes:
    from dho.trust.cms import sign_cms

    return sign_cms(content, party.cert, party.key)


def test_another_participant_cannot_delete_and_principals_are_checked(net):
    db, ke = net
    tz = Country.make("TZ")
    with db.session() as s:
        for group, party in (("SCA", tz.sca), ("UP", tz.up)):
            service.onboard_participant(s, CLI_OPERATOR, country="TZ", group=group, certificate=party.der,
                                        anchor_key=ANCHOR.key, anchor_cert=ANCHOR.cert)
    dsc = ke.new_dsc()
    upload(db, ke.sign(dsc.der))
    assert refused(db, service.delete_dsc, tz.sign(dsc.der)) == "TRUST_DSC_NOT_YOURS"
    # a focal point of Tanzania cannot upload a Kenyan DSC even with Kenya's signed message
    focal_tz = Principal(7, "focal.tza@x", (Grant("country_focal_point", country_iso3="TZA"),), None, "token")
    assert refused(db, service.upload_dsc, ke.sign(ke.new_dsc().der), focal_tz) == "PKI_UPLOADER_COUNTRY"
    with pytest.raises(Unauthenticated), db.session() as s:
        service.upload_dsc(s, ANONYMOUS, ke.sign(ke.new_dsc().der), anchor_cert=ANCHOR.cert)
    assert len([e for e in export(db) if e["certificateType"] == "DSC"]) == 1


def test_onboarding_refusals(db):
    ke = Country.make("KE")
    with db.session() as s:
        for kwargs, expected in (
            ({"country": "TZ", "group": "SCA", "certificate": ke.sca.pem}, "PKI_PARTICIPANT_COUNTRY"),
            ({"country": "KE", "group": "DSC", "certificate": ke.sca.pem}, "PKI_GROUP"),
            ({"country": "KE", "group": "SCA", "certificate": ke.up.pem}, "PKI_SCA_NOT_CA"),
            ({"country": "KE", "group": "TLS", "certificate": ke.up.pem}, "PKI_TLS_CLIENT_AUTH"),
            ({"country": "KE", "group": "UP", "certificate": b"garbage"}, "TRUST_CERT_UNREADABLE"),
            ({"country": "K1", "group": "UP", "certificate": ke.up.pem}, "TRUST_BAD_COUNTRY"),
        ):
            with pytest.raises(TrustRejected) as info:
                service.onboard_participant(s, CLI_OPERATOR, anchor_key=ANCHOR.key, anchor_cert=ANCHOR.cert, **kwargs)
            assert code(info) == expected, kwargs
        with pytest.raises(TrustRejected) as info:  # a key that is not the configured anchor's
            service.onboard_participant(s, CLI_OPERATOR, country="KE", group="UP", certificate=ke.up.pem,
                                        anchor_key=testpki.new_key(), anchor_cert=ANCHOR.cert)
        assert code(info) == "TRUST_ANCHOR_MISMATCH"
        service.onboard_participant(s, CLI_OPERATOR, country="KE", group="UP", certificate=ke.up.pem,
                                    anchor_key=ANCHOR.key, anchor_cert=ANCHOR.cert)
        with pytest.raises(TrustRejected) as info:
            service.onboard_participant(s, CLI_OPERATOR, country="KE", group="UP", certificate=ke.up.pem,
                                        anchor_key=ANCHOR.key, anchor_cert=ANCHOR.cert)
        assert code(info) == "TRUST_ALREADY_REGISTERED"
        assert s.execute(select(func.count()).select_from(ParticipantCertificate)).scalar() == 1


def test_revocation_batches(net):
    db, ke = net
    dsc = ke.new_dsc()
    upload(db, ke.sign(dsc.der))
    hashes = [bytes([i % 256, i // 256]) * 8 for i in range(1001)]
    assert refused(db, service.upload_batch, ke.sign_json(batch("KE", hashes))) == "REVOCATION_BATCH_TOO_LARGE"
    assert refused(db, service.upload_batch, ke.sign_json(batch("TZ", hashes[:3]))) == "TRUST_BATCH_COUNTRY"
    assert refused(db, service.upload_batch, ke.sign_json(batch("KE", hashes[:3], days=-1))) == \
        "REVOCATION_BATCH_EXPIRED"
    assert refused(db, service.upload_batch, ke.sign_json(batch("KE", hashes[:3], kid=b"12345678"))) == \
        "TRUST_BATCH_KID_UNKNOWN"
    assert refused(db, service.upload_batch, ke.sign(b"[1, 2")) == "TRUST_CONTENT_NOT_JSON"
    assert refused(db, service.upload_batch, sign_with(testpki.make_up("KE"), json.dumps(
        batch("KE", hashes[:3])).encode())) == "TRUST_UPLOADER_UNKNOWN"
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(RevocationEntry)).scalar() == 0
        start = datetime.now(UTC) - timedelta(seconds=1)
        full = service.upload_batch(s, CLI_OPERATOR, ke.sign_json(batch("KE", hashes[:1000])), anchor_cert=ANCHOR.cert)
        small = service.upload_batch(s, CLI_OPERATOR, ke.sign_json(batch("KE", hashes[:2], kid=dsc.kid)),
                                     anchor_cert=ANCHOR.cert)
        full_id, small_id = full.batch_id, small.batch_id
        listed = service.list_batches(s, since=start)
        assert [b["batchId"] for b in listed["batches"]] == [full_id, small_id] and listed["more"] is False
        assert len(service.batch_json(s, service.get_batch(s, full_id))["entries"]) == 1000
        mark = grid_now()
    with db.session() as s:
        service.delete_batch(s, CLI_OPERATOR, ke.sign_json({"batchId": small_id}), anchor_cert=ANCHOR.cert)
        delta = service.list_batches(s, since=mark)["batches"]
        assert delta == [{"batchId": small_id, "country": "KE", "date": delta[0]["date"], "deleted": True}]
        with pytest.raises(TrustRejected) as info:
            service.get_batch(s, small_id)
        assert code(info) == "TRUST_BATCH_DELETED"
    assert refused(db, service.delete_batch, ke.sign_json({"batchId": small_id})) == "TRUST_BATCH_DELETED"
    assert refused(db, service.delete_batch, ke.sign_json({"batchId": "nope"})) == "TRUST_BATCH_UNKNOWN"
    # a verifier applying the delta loses the deleted batch and keeps the other
    with db.session() as s:
        index = load_revocation(service.export_batches(s))
    assert len(index) == 1


def test_rules_upload_and_versions(net):
    db, ke = net
    assert refused(db, service.upload_rule, ke.sign_json(rule("TZ"))) == "TRUST_RULE_COUNTRY"
    broken = rule("KE")
    broken["Logic"] = {"no-such-operator": []}
    del broken["AffectedFields"]
    with pytest.raises(TrustRejected) as info, db.session() as s:
        service.upload_rule(s, CLI_OPERATOR, ke.sign_json(broken), anchor_cert=ANCHOR.cert)
    assert code(info) == "TRUST_RULE_INVALID"
    assert {e.field for e in info.value.errors} >= {"code", "AffectedFields", "Logic"}
    with db.session() as s:
        service.upload_rule(s, CLI_OPERATOR, ke.sign_json(rule("KE")), anchor_cert=ANCHOR.cert)
    assert refused(db, service.upload_rule, ke.sign_json(rule("KE"))) == "TRUST_RULE_VERSION"
    with db.session() as s:
        service.upload_rule(s, CLI_OPERATOR, ke.sign_json(rule("KE", version="1.1.0")), anchor_cert=ANCHOR.cert)
        listed = [service.rule_json(r) for r in service.list_rules(s, "KE")]
    assert [(r["identifier"], r["version"]) for r in listed] == [("VR-KE-0001", "1.0.0"), ("VR-KE-0001", "1.1.0")]
    assert listed[0]["rule"]["Logic"] == rule("KE")["Logic"]


def grid_now() -> datetime:
    """Now on the millisecond grid stored times use (like a `since` a client passes back), stepped past
    on both sides: nothing written before shares its millisecond, and everything written after is later."""
    time.sleep(0.002)
    moment = service.parse_since(service.iso(datetime.now(UTC)))
    time.sleep(0.002)
    return moment


def test_trust_list_filters_paging_and_changes(net):
    db, ke = net
    first = grid_now()
    for _ in range(3):
        upload(db, ke.sign(ke.new_dsc().der))
    with db.session() as s:
        everything = service.trust_list(s, anchor_cert=ANCHOR.cert)
        dsc_only = service.trust_list(s, cert_type="DSC", country="KE", anchor_cert=ANCHOR.cert)
        pages = [service.trust_list(s, page=p, size=2, anchor_cert=ANCHOR.cert) for p in range(4)]
        assert service.trust_list(s, country="TZ", anchor_cert=ANCHOR.cert) == []
        assert len(everything) == 6 and len(dsc_only) == 3
        assert [e for p in pages for e in p] == everything and pages[3] == []
        assert [len(p) for p in pages] == [2, 2, 2, 0]
        for bad in ({"cert_type": "SIGNER"}, {"page": -1, "size": 5}, {"page": 0, "size": 0},
                    {"page": 0, "size": 1001}, {"country": "k"}, {"domain": "dc c"}):
            with pytest.raises(TrustRejected):
                service.trust_list(s, anchor_cert=ANCHOR.cert, **bad)
        assert len(service.trust_list(s, since=first, anchor_cert=ANCHOR.cert)) == 3
        modified = service.last_modified(s)
        assert modified is not None and modified >= first
        # nothing changes while the clock runs: the same answer a minute later
        assert service.last_modified(s, now=datetime.now(UTC) + timedelta(minutes=1)) == modified
        # a DSC that expires changes the list, and the last-modified time with it
        later = datetime.now(UTC) + timedelta(days=400)
        assert service.trust_list(s, cert_type="DSC", now=later, anchor_cert=ANCHOR.cert) == []
        assert service.last_modified(s, now=later) > modified
        changes = service.trust_list_changes(s, since=first, now=later, anchor_cert=ANCHOR.cert)
        assert changes["deleted"] == []  # added and gone after `first`: a client at `first` never saw them
        changes = service.trust_list_changes(s, since=modified, now=later, anchor_cert=ANCHOR.cert)
        assert [g["reason"] for g in changes["deleted"]] == ["expired"] * 3 and changes["entries"] == []


def test_expired_dsc_drops_out(net):
    db, ke = net
    dsc = ke.new_dsc(days=3)
    upload(db, ke.sign(dsc.der))
    with db.session() as s:
        assert len(service.trust_list(s, cert_type="DSC", anchor_cert=ANCHOR.cert)) == 1
        soon = datetime.now(UTC) + timedelta(days=3)
        assert service.trust_list(s, cert_type="DSC", now=soon, anchor_cert=ANCHOR.cert) == []


def test_signed_did_document(net):
    db, ke = net
    dsc = ke.new_dsc()
    upload(db, ke.sign(dsc.der))
    with db.session() as s:
        path, doc = service.sign_did_document(s, CLI_OPERATOR, ANCHOR.key, did_base="did:web:example.org",
                                              domain="DCC", anchor_cert=ANCHOR.cert)
        stored, _when = service.stored_document(s, path)
        path_ke, _doc = service.sign_did_document(s, CLI_OPERATOR, ANCHOR.key, did_base="did:web:example.org",
                                                  country="KE", usage="DSC", anchor_cert=ANCHOR.cert)
        with pytest.raises(TrustRejected) as info:
            service.stored_document(s, "did/DCC/TZ")
        assert code(info) == "TRUST_NO_DOCUMENT"
        with pytest.raises(TrustRejected):
            service.sign_did_document(s, CLI_OPERATOR, testpki.new_key(), did_base="did:web:x", anchor_cert=ANCHOR.cert)
    assert path == "did/DCC" and path_ke == "did/DCC/KE/DSC"
    assert json.loads(stored) == doc and doc["id"] == "did:web:example.org:dcc"
    assert verify_did_document(doc, ANCHOR.cert.public_key())
    store = load_did_trustlist(stored, ANCHOR.cert)
    assert len(store) == 1 and len(store.candidates(dsc.kid)) == 1
    cert = issue(dsc, "KE")
    assert HcertVerifier(store).verify(cert.text).valid
    doc["verificationMethod"] = doc["verificationMethod"][:1]
    with pytest.raises(Exception) as info:
        load_did_trustlist(doc, ANCHOR.cert)
    assert getattr(info.value, "code", None) == "TRUST_LIST_PROOF"


def test_missing_anchor_configuration_is_a_clear_error(net, monkeypatch):
    db, _ke = net
    from dho.config import get_settings

    monkeypatch.setattr(get_settings(), "trust_anchor_cert", None)
    with pytest.raises(TrustRejected) as info, db.session() as s:
        service.trust_list(s)
    assert code(info) == "TRUST_ANCHOR_MISSING" and info.value.status == 503


def test_offline_loaders_skip_bad_entries_and_refuse_unusable_input():
    from dho.trust.trustlist import TrustListError

    ke = Country.make("KE")
    good, other = ke.new_dsc(), ke.new_dsc()

    def entry(party, **changes):  # type: ignore[no-untyped-def]
        e = {"kid": base64.b64encode(party.kid).decode(), "timestamp": "2026-01-01T00:00:00.000Z", "country": "KE",
             "certificateType": "DSC", "thumbprint": party.thumbprint, "signature": "",
             "rawData": base64.b64encode(party.der).decode()}
        return {**e, **changes}

    listed = [entry(good), entry(other, kid=base64.b64encode(good.kid).decode()), entry(other, rawData="%%%"),
              entry(other, country="TZ"), entry(other, thumbprint="00" * 32), "junk",
              entry(ke.sca, certificateType="CSCA")]
    store = load_gateway_trustlist(json.dumps(listed))
    assert len(store) == 1 and store.candidates(good.kid)
    assert len(store.warnings) == 5  # type: ignore[attr-defined]
    for bad in ("{not json", b"[" * 100_000, json.dumps({"a": 1}), 42):
        with pytest.raises(TrustListError):
            load_gateway_trustlist(bad)
    # revocation downloads: a batch signed by an unknown key is not believed, a broken one is skipped
    stranger = testpki.make_up("KE")
    hashes = [b"\x01" * 16]
    items = [{"batchId": "a", "cms": base64.b64encode(ke.sign_json(batch("KE", hashes))).decode()},
             {"batchId": "b", "cms": base64.b64encode(sign_with(stranger, json.dumps(
                 batch("KE", [b"\x02" * 16])).encode())).decode()},
             {"batchId": "c", "cms": "bm90IGEgQ01T"}, {"batchId": "d", "batch": {"country": "KE"}}]
    index = load_revocation(items, uploaders={ke.up.thumbprint})
    assert len(index) == 1 and len(index.warnings) == 3  # type: ignore[attr-defined]
    assert len(load_revocation(items)) == 2  # integrity only: the stranger's batch verifies
    assert len(load_revocation([*items, {"batchId": "a", "deleted": True}])) == 1
    with pytest.raises(TrustListError):
        load_revocation("nope")
