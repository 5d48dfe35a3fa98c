"""Business rules in the gateway format: parsing with every problem reported, selection (country, type,
validity, latest version) and evaluation against DCC payloads with the EU external data object."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from dho.trust import certlogic
from dho.trust.rules import (
    Rule,
    RuleError,
    RuleOutcome,
    evaluate_rules,
    external_data,
    parse_rule,
    rule_applies,
    select_rules,
)

NOW = datetime(2022, 3, 1, 12, 0, tzinfo=UTC)
VACCINES = ["EU/1/20/1528", "EU/1/20/1507", "EU/1/21/1529", "EU/1/20/1525"]


def rule(identifier: str, logic: Any, *, cert: str | None = None, rule_type: str = "Acceptance",
         version: str = "1.0.0", valid_from: str = "2021-06-01T00:00:00Z", valid_to: str = "2030-06-01T00:00:00Z",
         en: str = "", fr: str | None = None) -> dict[str, Any]:
    """A rule document as the gateway stores it; the certificate type follows the identifier prefix."""
    prefix, country, _ = identifier.split("-")
    kinds = {"GR": "General", "VR": "Vaccination", "TR": "Test", "RR": "Recovery", "IR": "General"}
    descriptions = [{"lang": "en", "desc": en or f"Rule {identifier}"}]
    if fr:
        descriptions.append({"lang": "fr", "desc": fr})
    return {
        "Identifier": identifier,
        "Type": rule_type if prefix != "IR" else "Invalidation",
        "Country": country,
        "Version": version,
        "SchemaVersion": "1.0.0",
        "Engine": "CERTLOGIC",
        "EngineVersion": "1.3.3",
        "CertificateType": cert or kinds[prefix],
        "Description": descriptions,
        "ValidFrom": valid_from,
        "ValidTo": valid_to,
        "AffectedFields": ["v.0", "v.0.dn", "v.0.sd"],
        "Logic": logic,
    }


COMPLETE = {"if": [{"var": "payload.v.0"}, {">=": [{"var": "payload.v.0.dn"}, {"var": "payload.v.0.sd"}]}, True]}
APPROVED = {"if": [{"var": "payload.v.0"},
                   {"in": [{"var": "payload.v.0.mp"}, {"var": "external.valueSets.vaccines-covid-19-names"}]}, True]}
NEGATIVE = {"if": [{"var": "payload.t.0"}, {"===": [{"var": "payload.t.0.tr"}, "260415000"]}, True]}
RECENT_RECOVERY = {"if": [{"var": "payload.r.0"}, {"not-after": [
    {"plusTime": [{"var": "external.validationClock"}, 0, "day"]},
    {"plusTime": [{"var": "payload.r.0.fr"}, 180, "day"]},
]}, True]}
NOT_EXPIRED = {"not-after": [
    {"plusTime": [{"var": "external.validationClock"}, 0, "hour"]},
    {"plusTime": [{"var": "external.exp"}, 0, "hour"]},
]}
BAD_BATCH = {"!": [{"in": [{"extractFromUVCI": [{"var": "payload.v.0.ci"}, 2]}, ["BAD-LOT"]]}]}

RULES = [
    rule("VR-DE-0001", COMPLETE, en="The vaccination course must be complete.",
         fr="Le schéma vaccinal doit être complet."),
    rule("VR-DE-0002", APPROVED, en="The vaccine must be approved in the EU."),
    rule("TR-DE-0001", NEGATIVE, en="The test result must be negative."),
    rule("RR-DE-0001", RECENT_RECOVERY, en="The first positive test is at most 180 days old."),
    rule("GR-DE-0001", NOT_EXPIRED, en="The certificate must not have expired."),
    rule("IR-NL-0001", BAD_BATCH, en="Certificates of a withdrawn batch are invalid."),
]


def vaccination(dn: int = 2, sd: int = 2, mp: str = "EU/1/20/1528", ci: str = "URN:UVCI:01:NL:187/37512422923"):
    return {"ver": "1.3.0", "dob": "1980-04-12", "nam": {"fn": "Muster", "fnt": "MUSTER"},
            "v": [{"tg": "840539006", "vp": "1119349007", "mp": mp, "ma": "ORG-100030215", "dn": dn, "sd": sd,
                   "dt": "2021-12-01", "co": "NL", "is": "Ministry of Health", "ci": ci}]}


def test_result(tr: str = "260415000"):
    return {"ver": "1.3.0", "dob": "1980-04-12", "nam": {"fn": "Muster", "fnt": "MUSTER"},
            "t": [{"tg": "840539006", "tt": "LP6464-4", "sc": "2022-02-28T08:00:00Z", "tr": tr, "tc": "Lab",
                   "co": "NL", "is": "Ministry of Health", "ci": "URN:UVCI:01:NL:TEST/1"}]}


test_result.__test__ = False  # a payload builder, not a test


def recovery(fr: str):
    return {"ver": "1.3.0", "dob": "1980-04-12", "nam": {"fn": "Muster", "fnt": "MUSTER"},
            "r": [{"tg": "840539006", "fr": fr, "co": "NL", "is": "Ministry of Health", "df": "2021-10-01",
                   "du": "2022-06-01", "ci": "URN:UVCI:01:NL:REC/1"}]}


def run(payload: dict[str, Any], cert_type: str, rules: list[dict[str, Any]] | None = None, **kw: Any):
    parsed = [parse_rule(r) for r in (RULES if rules is None else rules)]
    options = {"now": NOW, "country_of_arrival": "DE", "issuer_country": "NL", "cert_type": cert_type,
               "value_sets": {"vaccines-covid-19-names": VACCINES}, "exp": NOW + timedelta(days=30)}
    options.update(kw)
    return {o.identifier: o for o in evaluate_rules(parsed, payload, **options)}


# --------------------------------------------------------------------------------------------------------
# Parsing


def test_parse_rule() -> None:
    parsed = parse_rule(RULES[0])
    assert isinstance(parsed, Rule)
    assert (parsed.identifier, parsed.type, parsed.country, parsed.version) == ("VR-DE-0001", "Acceptance", "DE",
                                                                               "1.0.0")
    assert parsed.certificate_type == "Vaccination"
    assert parsed.valid_from == datetime(2021, 6, 1, tzinfo=UTC)
    assert parsed.affected_fields == ("v.0", "v.0.dn", "v.0.sd")
    assert parsed.description("fr") == "Le schéma vaccinal doit être complet."
    assert parsed.description("de") == "The vaccination course must be complete."
    assert parsed.version_key == (1, 0, 0)
    assert parsed.program.evaluate({"payload": vaccination(1, 2)}) is False


def test_invalidation_rule_uses_the_ir_prefix() -> None:
    parsed = parse_rule(RULES[-1])
    assert (parsed.type, parsed.identifier) == ("Invalidation", "IR-NL-0001")
    wrong = rule("VR-NL-0009", BAD_BATCH, rule_type="Invalidation", cert="Vaccination")
    with pytest.raises(RuleError) as caught:
        parse_rule(wrong)
    assert caught.value.problems == [("Identifier", "prefix must be IR for a Invalidation rule on Vaccination "
                                                    "certificates")]


def _without(name: str) -> dict[str, Any]:
    doc = copy.deepcopy(RULES[0])
    del doc[name]
    return doc


def _with(name: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(RULES[0])
    doc[name] = value
    return doc


BAD = [
    ("Identifier", "VR-DE-001", "must look like VR-DE-0001"),
    ("Identifier", "vr-de-0001", "must look like VR-DE-0001"),
    ("Identifier", "XR-DE-0001", "must look like VR-DE-0001"),
    ("Identifier", "TR-DE-0001", "prefix must be VR"),
    ("Identifier", "VR-FR-0001", "country part FR differs from Country DE"),
    ("Identifier", 17, "must be a non-empty string"),
    ("Type", "Rejection", "must be one of Acceptance, Invalidation"),
    ("Country", "XX", "ISO 3166 alpha-2"),
    ("Country", "de", "ISO 3166 alpha-2"),
    ("Country", "DEU", "ISO 3166 alpha-2"),
    ("Version", "1.0", "semantic version"),
    ("Version", "01.0.0", "semantic version"),
    ("Version", "1.0.0-beta", "semantic version"),
    ("SchemaVersion", "v1", "semantic version"),
    ("Engine", "JSONLOGIC", "must be CERTLOGIC"),
    ("EngineVersion", "", "must be a non-empty string"),
    ("EngineVersion", "latest", "semantic version"),
    ("CertificateType", "Vaccine", "must be one of General, Test, Vaccination, Recovery"),
    ("Description", [], "non-empty list"),
    ("Description", "complete", "non-empty list"),
    ("Description", [{"lang": "fr", "desc": "Complet"}], "must include an English"),
    ("Description", [{"lang": "en", "desc": "  "}], "desc must be a non-empty string"),
    ("Description", [{"lang": "EN", "desc": "x"}], "two-letter lower-case"),
    ("Description", [{"lang": "en", "desc": "x"}, {"lang": "en", "desc": "y"}], "given twice"),
    ("Description", [{"lang": "en", "desc": "x", "extra": 1}], "exactly the keys lang and desc"),
    ("ValidFrom", "2021-06-01", "ISO 8601 date-time"),
    ("ValidFrom", "2021-06-01T00:00:00", "ISO 8601 date-time"),  # no timezone
    ("ValidFrom", "2021-02-30T00:00:00Z", "not a real date-time"),
    ("ValidFrom", 1622505600, "ISO 8601 date-time"),
    ("ValidTo", "2021-06-01T00:00:00Z", "must be after ValidFrom"),
    ("ValidTo", "2021-05-01T00:00:00+00:00", "must be after ValidFrom"),
    ("AffectedFields", "v.0.dn", "non-empty list"),
    ("AffectedFields", [], "non-empty list"),
    ("AffectedFields", ["v.0", 3], "non-empty list"),
    ("Logic", {"or": [True, False]}, 'unrecognised operator: "or" (at /)'),
    ("Logic", {"if": [{"var": "x"}, True, {"<": [1]}]}, "must have 2 or 3 operands, but it has 1 (at /if/2)"),
    ("Logic", None, "invalid CertLogic expression"),
    ("Notes", "hello", "is not a field of the rule format"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD, ids=[f"{f}={v!r}" for f, v, _ in BAD])
def test_each_bad_field_is_reported(field: str, value: Any, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(_with(field, value))
    error = caught.value
    assert isinstance(error, ValueError)
    assert len(error.problems) == 1, error.problems
    reported_field, reported = error.problems[0]
    assert reported_field.split("[")[0] == field
    assert message in reported
    assert (error.field, error.message) == error.problems[0]


@pytest.mark.parametrize("name", ["Identifier", "Type", "Country", "Version", "SchemaVersion", "Engine",
                                  "EngineVersion", "CertificateType", "ValidFrom", "ValidTo", "Logic"])
def test_each_missing_field_is_reported(name: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(_without(name))
    assert (name, "is missing") in caught.value.problems


def test_missing_lists_are_reported() -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(_without("Description"))
    assert caught.value.problems[0][0] == "Description"
    with pytest.raises(RuleError) as caught:
        parse_rule(_without("AffectedFields"))
    assert caught.value.problems[0][0] == "AffectedFields"


def test_all_problems_are_collected() -> None:
    doc = _with("Version", "one")
    doc.update(Country="FR", Engine="other", Logic={"var": 1}, ValidTo="2020-01-01T00:00:00Z", Type="Other")
    with pytest.raises(RuleError) as caught:
        parse_rule(doc)
    fields = [f for f, _ in caught.value.problems]
    assert fields == ["Type", "Identifier", "Version", "Engine", "ValidTo", "Logic"]
    assert ("Identifier", "country part DE differs from Country FR") in caught.value.problems
    assert "Version: must be a semantic version" in str(caught.value)


@pytest.mark.parametrize("doc", [None, [], "VR-DE-0001", 42])
def test_rule_must_be_an_object(doc: Any) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(doc)
    assert caught.value.problems == [("$", "a rule must be a JSON object")]


def test_hostile_logic_is_refused_not_crashing() -> None:
    deep: Any = True
    for _ in range(10_000):
        deep = {"!": [deep]}
    with pytest.raises(RuleError) as caught:
        parse_rule(_with("Logic", deep))
    assert caught.value.problems[0][0] == "Logic"
    assert "nested deeper than 64 levels" in caught.value.problems[0][1]


# --------------------------------------------------------------------------------------------------------
# Selection


def test_rule_applies() -> None:
    vaccine, general = parse_rule(RULES[0]), parse_rule(RULES[4])
    assert rule_applies(vaccine, "Vaccination", NOW)
    assert rule_applies(vaccine, "v", NOW)
    assert not rule_applies(vaccine, "Test", NOW)
    assert not rule_applies(vaccine, "t", NOW)
    assert all(rule_applies(general, kind, NOW) for kind in ("Vaccination", "Test", "Recovery", "r"))
    start, end = vaccine.valid_from, vaccine.valid_to
    assert rule_applies(vaccine, "v", start)
    assert not rule_applies(vaccine, "v", start - timedelta(microseconds=1))
    assert rule_applies(vaccine, "v", end - timedelta(microseconds=1))
    assert not rule_applies(vaccine, "v", end)
    assert rule_applies(vaccine, "v", start.astimezone(timezone(timedelta(hours=2))))


@pytest.mark.parametrize(("cert_type", "at"), [("Vaccine", NOW), ("x", NOW), ("v", datetime(2022, 3, 1))])
def test_rule_applies_rejects_bad_arguments(cert_type: str, at: datetime) -> None:
    with pytest.raises(ValueError, match=r"certificate type|timezone-aware"):
        rule_applies(parse_rule(RULES[0]), cert_type, at)


def test_latest_valid_version_wins() -> None:
    versions = [
        rule("VR-DE-0001", True, version="1.0.0"),
        rule("VR-DE-0001", False, version="1.2.0", valid_from="2022-01-01T00:00:00Z"),
        rule("VR-DE-0001", True, version="1.10.0", valid_from="2022-02-01T00:00:00Z",
             valid_to="2022-02-15T00:00:00Z"),  # expired: not a candidate
        rule("VR-DE-0001", True, version="2.0.0", valid_from="2022-04-01T00:00:00Z"),  # not yet valid
    ]
    outcomes = run(vaccination(), "v", versions)
    assert [(o.version, o.passed) for o in outcomes.values()] == [("1.2.0", False)]
    later = run(vaccination(), "v", versions, now=datetime(2022, 4, 1, tzinfo=UTC))
    assert [(o.version, o.passed) for o in later.values()] == [("2.0.0", True)]
    during = run(vaccination(), "v", versions, now=datetime(2022, 2, 10, tzinfo=UTC))
    assert [o.version for o in during.values()] == ["1.10.0"]  # semantic, not textual, order


def test_selection_by_country_and_type() -> None:
    others = [*RULES, rule("VR-FR-0001", False), rule("IR-DE-0001", False)]
    parsed = [parse_rule(r) for r in others]
    chosen = select_rules(parsed, now=NOW, country_of_arrival="DE", issuer_country="NL", cert_type="Vaccination")
    assert [r.identifier for r in chosen] == ["GR-DE-0001", "IR-NL-0001", "VR-DE-0001", "VR-DE-0002"]
    chosen = select_rules(parsed, now=NOW, country_of_arrival="FR", issuer_country="DE", cert_type="Test")
    assert [r.identifier for r in chosen] == ["IR-DE-0001"]


# --------------------------------------------------------------------------------------------------------
# Evaluation


def test_complete_vaccination_passes_everything() -> None:
    outcomes = run(vaccination(), "v")
    assert sorted(outcomes) == ["GR-DE-0001", "IR-NL-0001", "VR-DE-0001", "VR-DE-0002"]
    assert all(o.passed is True and o.error is None for o in outcomes.values())


def test_incomplete_vaccination_fails_one_rule() -> None:
    outcomes = run(vaccination(dn=1, sd=2), "v")
    assert outcomes["VR-DE-0001"] == RuleOutcome("VR-DE-0001", "1.0.0", False, None,
                                                 "The vaccination course must be complete.",
                                                 "Le schéma vaccinal doit être complet.")
    assert [k for k, o in outcomes.items() if not o.passed] == ["VR-DE-0001"]


def test_unapproved_vaccine_and_withdrawn_batch() -> None:
    outcomes = run(vaccination(mp="Sputnik-V", ci="URN:UVCI:01:NL:BAD-LOT/1"), "v")
    assert outcomes["VR-DE-0002"].passed is False
    assert outcomes["IR-NL-0001"].passed is False
    assert outcomes["IR-NL-0001"].description_fr_or_en == "Certificates of a withdrawn batch are invalid."


def test_value_set_documents_are_reduced_to_their_codes() -> None:
    gateway_doc = {"valueSetId": "vaccines-covid-19-names", "valueSetValues": {code: {"display": code}
                                                                               for code in VACCINES}}
    outcomes = run(vaccination(), "v", value_sets={"vaccines-covid-19-names": gateway_doc})
    assert outcomes["VR-DE-0002"].passed is True
    outcomes = run(vaccination(), "v", value_sets=None)  # no value set: `in` on null is an error
    assert outcomes["VR-DE-0002"].passed is None
    assert "must be an array" in outcomes["VR-DE-0002"].error


@pytest.mark.parametrize(("result", "passed"), [("260415000", True), ("260373001", False)])
def test_test_result_must_be_negative(result: str, passed: bool) -> None:
    outcomes = run(test_result(result), "t")
    assert sorted(outcomes) == ["GR-DE-0001", "IR-NL-0001", "TR-DE-0001"]  # IR-NL-0001 is a General rule
    assert outcomes["TR-DE-0001"].passed is passed
    assert outcomes["IR-NL-0001"].passed is True  # no vaccination entry, so no withdrawn batch


@pytest.mark.parametrize(
    ("first_positive", "passed"),
    [
        ("2021-09-03", True),
        ("2021-09-02T12:00:00Z", True),  # exactly 180 days before NOW (2022-03-01T12:00Z)
        ("2021-09-02T14:00:00+02:00", True),  # the same instant
        ("2021-09-02T11:59:59Z", False),
        ("2021-09-02", False),  # midnight: 180 days end 12 hours before NOW
        ("2021-06-01", False),
    ],
)
def test_recovery_not_older_than_180_days(first_positive: str, passed: bool) -> None:
    outcome = run(recovery(first_positive), "r")["RR-DE-0001"]
    assert outcome.passed is passed, outcome


def test_external_data_object() -> None:
    iat = NOW - timedelta(days=1)
    data = external_data({"ver": "1.3.0"}, now=NOW, country_of_arrival="DE", issuer_country="NL",
                         value_sets={"a": ["x"], "b": {"valueSetValues": {"y": {}, "z": {}}}}, exp=NOW, iat=iat)
    assert data == {"payload": {"ver": "1.3.0"}, "external": {
        "validationClock": "2022-03-01T12:00:00+00:00", "valueSets": {"a": ["x"], "b": ["y", "z"]},
        "countryCode": "DE", "issuerCountryCode": "NL", "exp": "2022-03-01T12:00:00+00:00",
        "iat": "2022-02-28T12:00:00+00:00"}}
    assert set(external_data({}, now=NOW, country_of_arrival="DE", issuer_country="NL")["external"]) == {
        "validationClock", "valueSets", "countryCode", "issuerCountryCode"}
    with pytest.raises(ValueError, match="timezone-aware"):
        external_data({}, now=datetime(2022, 3, 1), country_of_arrival="DE", issuer_country="NL")


def test_rules_see_the_external_data() -> None:
    checks = [
        rule("GR-DE-0002", {"===": [{"var": "external.countryCode"}, "DE"]}),
        rule("GR-DE-0003", {"===": [{"var": "external.issuerCountryCode"}, "NL"]}),
        rule("GR-DE-0004", {"before": [{"plusTime": [{"var": "external.iat"}, 0, "day"]},
                                       {"plusTime": [{"var": "external.validationClock"}, 0, "day"]}]}),
    ]
    outcomes = run(vaccination(), "v", checks, iat=NOW - timedelta(hours=1))
    assert [o.passed for o in outcomes.values()] == [True, True, True]


def test_expiry_rule_uses_exp() -> None:
    general = [RULES[4]]
    assert run(vaccination(), "v", general)["GR-DE-0001"].passed is True
    assert run(vaccination(), "v", general, exp=NOW - timedelta(seconds=1))["GR-DE-0001"].passed is False
    missing = run(vaccination(), "v", general, exp=None)["GR-DE-0001"]
    assert missing.passed is None
    assert "plusTime" in missing.error


def test_errors_and_non_boolean_results_do_not_pass() -> None:
    shaky = [
        rule("VR-DE-0003", {">=": [{"var": "payload.v.0.dn"}, 1]}),  # fine on a vaccination
        rule("GR-DE-0005", {">=": [{"var": "payload.v.0.dn"}, 1]}),  # null on a test certificate
        rule("GR-DE-0006", {"var": "payload.ver"}),  # a string, not a boolean
        rule("GR-DE-0007", {"and": [{"var": "payload.dob"}, True]}),  # truthy, still not a boolean
    ]
    outcomes = run(test_result(), "t", shaky)
    assert sorted(outcomes) == ["GR-DE-0005", "GR-DE-0006", "GR-DE-0007"]
    assert outcomes["GR-DE-0005"].passed is None
    assert "must be integers" in outcomes["GR-DE-0005"].error
    assert outcomes["GR-DE-0006"] == RuleOutcome("GR-DE-0006", "1.0.0", None,
                                                 "the rule gave '1.3.0', not true or false",
                                                 "Rule GR-DE-0006", "Rule GR-DE-0006")
    assert outcomes["GR-DE-0007"].passed is True  # `and` returns its last operand: true
    assert run(vaccination(), "v", shaky)["VR-DE-0003"].passed is True


def test_evaluator_bug_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = parse_rule(RULES[0])

    def broken(data: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(certlogic.Program, "evaluate", lambda self, data: broken(data))
    outcomes = evaluate_rules([parsed], vaccination(), now=NOW, country_of_arrival="DE", issuer_country="NL",
                              cert_type="v")
    assert (outcomes[0].passed, outcomes[0].error) == (None, "internal evaluator error (KeyError)")


def test_no_rules_no_outcomes() -> None:
    assert evaluate_rules([], vaccination(), now=NOW, country_of_arrival="DE", issuer_country="NL",
                          cert_type="Vaccination") == []
