"""Business rules in the EU DCC gateway format, and their evaluation against a certificate payload.

A rule is a JSON object with the gateway's fields (``Identifier``, ``Type``, ``Country``, ``Version``,
``Logic``...). :func:`parse_rule` checks every field, collects every problem into one :class:`RuleError`,
and compiles the CertLogic once. :func:`evaluate_rules` picks the rules that apply to one verification
(country, certificate type, validity window, latest version of each identifier) and evaluates them
against the external data object the EU verifier apps build. See ``docs/trust-business-rules.md``.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from dho.trust import certlogic

log = logging.getLogger(__name__)

FIELDS = (
    "Identifier", "Type", "Country", "Version", "SchemaVersion", "Engine", "EngineVersion", "CertificateType",
    "Description", "ValidFrom", "ValidTo", "AffectedFields", "Logic",
)
RULE_TYPES = ("Acceptance", "Invalidation")
CERTIFICATE_TYPES = ("General", "Test", "Vaccination", "Recovery")
ENGINE = "CERTLOGIC"
# Identifier prefix by certificate type; invalidation rules use IR whatever their certificate type.
PREFIXES = {"General": "GR", "Vaccination": "VR", "Test": "TR", "Recovery": "RR"}
INVALIDATION_PREFIX = "IR"

_IDENTIFIER = re.compile(r"(GR|VR|TR|RR|IR)-([A-Z]{2})-(\d{4})")
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
_LANG = re.compile(r"[a-z]{2}")
_COUNTRY = re.compile(r"[A-Z]{2}")
# ISO 8601 date-time with seconds and an explicit offset, as the gateway publishes them.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
# Short certificate-type names other trust modules use (see dho.trust.keys).
_CERT_TYPE_ALIASES = {"v": "Vaccination", "t": "Test", "r": "Recovery"}
_COUNTRIES_FILE = Path(__file__).resolve().parent.parent / "reference" / "data" / "who_countries_and_areas.csv"


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166 alpha-2 codes of the countries and areas in the platform's reference data."""
    with _COUNTRIES_FILE.open(encoding="utf-8", newline="") as handle:
        return frozenset(row["iso2"] for row in csv.DictReader(handle) if row["iso2"])


class RuleError(ValueError):
    """A rule that cannot be accepted. ``problems`` lists every ``(field, message)`` found; ``field`` and
    ``message`` are the first of them."""

    def __init__(self, field: str, message: str, problems: list[tuple[str, str]] | None = None):
        self.problems: list[tuple[str, str]] = list(problems or [(field, message)])
        self.field, self.message = self.problems[0]
        text = "; ".join(f"{f}: {m}" for f, m in self.problems)
        super().__init__(f"invalid rule: {text}")


@dataclass(frozen=True)
class Rule:
    identifier: str
    type: str
    country: str
    version: str
    schema_version: str
    engine: str
    engine_version: str
    certificate_type: str
    descriptions: dict[str, str]
    valid_from: datetime
    valid_to: datetime
    affected_fields: tuple[str, ...]
    logic: Any
    program: certlogic.Program = field(repr=False, compare=False)
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def version_key(self) -> tuple[int, int, int]:
        return semver_key(self.version)

    def description(self, lang: str = "en") -> str:
        """The description in ``lang``, else the English one."""
        return self.descriptions.get(lang) or self.descriptions["en"]


@dataclass(frozen=True)
class RuleOutcome:
    identifier: str
    version: str
    passed: bool | None  # None: the rule could not be evaluated (see error)
    error: str | None
    description_en: str
    description_fr_or_en: str


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def semver_key(text: str) -> tuple[int, int, int]:
    """A ``MAJOR.MINOR.PATCH`` version as a tuple that sorts the way versions do (1.10.0 after 1.9.0)."""
    major, minor, patch = text.split(".")
    return int(major), int(minor), int(patch)


_semver = semver_key  # older name, used by dho.trust.service


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise ValueError("must be an ISO 8601 date-time with seconds and a timezone, like 2024-01-01T00:00:00Z")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{value} is not a real date-time") from exc


def _check_descriptions(value: Any, problems: list[tuple[str, str]]) -> dict[str, str]:
    if not isinstance(value, list) or not value:
        problems.append(("Description", "must be a non-empty list of {lang, desc} objects"))
        return {}
    found: dict[str, str] = {}
    before = len(problems)
    for index, item in enumerate(value):
        where = f"Description[{index}]"
        if not isinstance(item, dict) or set(item) != {"lang", "desc"}:
            problems.append((where, "must be an object with exactly the keys lang and desc"))
            continue
        lang, desc = item["lang"], item["desc"]
        if not isinstance(lang, str) or not _LANG.fullmatch(lang):
            problems.append((where, "lang must be a two-letter lower-case language code"))
        elif lang in found:
            problems.append((where, f"language {lang} given twice"))
        elif not isinstance(desc, str) or not desc.strip():
            problems.append((where, "desc must be a non-empty string"))
        else:
            found[lang] = desc
    if "en" not in found and len(problems) == before:  # item problems may hide the English one
        problems.append(("Description", "must include an English (en) description"))
    return found


def parse_rule(obj: dict[str, Any]) -> Rule:
    """Check a rule in the gateway format and return it with its CertLogic compiled. Raises
    :class:`RuleError` listing every problem found (not only the first)."""
    if not isinstance(obj, dict):
        raise RuleError("$", "a rule must be a JSON object")
    problems: list[tuple[str, str]] = []

    def text(name: str) -> str:
        value = obj.get(name)
        if name not in obj:
            problems.append((name, "is missing"))
        elif not isinstance(value, str) or not value:
            problems.append((name, "must be a non-empty string"))
        else:
            return value
        return ""

    problems.extend((name, "is not a field of the rule format") for name in obj if name not in FIELDS)

    identifier, rule_type, country = text("Identifier"), text("Type"), text("Country")
    certificate_type = text("CertificateType")
    if rule_type and rule_type not in RULE_TYPES:
        problems.append(("Type", f"must be one of {', '.join(RULE_TYPES)}"))
    if certificate_type and certificate_type not in CERTIFICATE_TYPES:
        problems.append(("CertificateType", f"must be one of {', '.join(CERTIFICATE_TYPES)}"))
    if country and not (_COUNTRY.fullmatch(country) and country in country_codes()):
        problems.append(("Country", "must be an ISO 3166 alpha-2 country code in upper case"))
        country = ""  # not compared with the identifier below
    if identifier:
        match = _IDENTIFIER.fullmatch(identifier)
        if not match:
            problems.append(("Identifier", "must look like VR-DE-0001 (GR|VR|TR|RR|IR, country, 4 digits)"))
        else:
            expected = INVALIDATION_PREFIX if rule_type == "Invalidation" else PREFIXES.get(certificate_type)
            if rule_type in RULE_TYPES and certificate_type in CERTIFICATE_TYPES and match[1] != expected:
                problems.append(("Identifier", f"prefix must be {expected} for a {rule_type} rule on "
                                               f"{certificate_type} certificates"))
            if country and match[2] != country:
                problems.append(("Identifier", f"country part {match[2]} differs from Country {country}"))

    versions = {name: text(name) for name in ("Version", "SchemaVersion", "EngineVersion")}
    for name, value in versions.items():
        if value and not _SEMVER.fullmatch(value):
            problems.append((name, "must be a semantic version MAJOR.MINOR.PATCH, like 1.0.0"))
    engine = text("Engine")
    if engine and engine != ENGINE:
        problems.append(("Engine", f"must be {ENGINE}"))

    descriptions = _check_descriptions(obj.get("Description"), problems)

    stamps: dict[str, datetime] = {}
    for name in ("ValidFrom", "ValidTo"):
        if name not in obj:
            problems.append((name, "is missing"))
            continue
        try:
            stamps[name] = _timestamp(obj[name])
        except ValueError as exc:
            problems.append((name, str(exc)))
    if len(stamps) == 2 and stamps["ValidTo"] <= stamps["ValidFrom"]:
        problems.append(("ValidTo", "must be after ValidFrom"))

    affected = obj.get("AffectedFields")
    if not isinstance(affected, list) or not affected or not all(isinstance(f, str) and f for f in affected):
        problems.append(("AffectedFields", "must be a non-empty list of field paths (strings)"))
        affected = []

    program = None
    if "Logic" not in obj:
        problems.append(("Logic", "is missing"))
    else:
        try:
            program = certlogic.compile_expression(obj["Logic"])
        except certlogic.CertLogicError as exc:
            problems.extend(("Logic", f"{i.message} (at {i.path or '/'})") for i in exc.issues)

    if problems or program is None:
        raise RuleError(*problems[0], problems=problems)
    return Rule(
        identifier=identifier, type=rule_type, country=country, version=versions["Version"],
        schema_version=versions["SchemaVersion"], engine=engine, engine_version=versions["EngineVersion"],
        certificate_type=certificate_type, descriptions=descriptions, valid_from=stamps["ValidFrom"],
        valid_to=stamps["ValidTo"], affected_fields=tuple(affected), logic=obj["Logic"], program=program,
        raw=dict(obj),
    )


def _certificate_type(cert_type: str) -> str:
    name = _CERT_TYPE_ALIASES.get(cert_type.lower(), cert_type.capitalize())
    if name not in CERTIFICATE_TYPES:
        raise ValueError(f"unknown certificate type {cert_type!r}")
    return name


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment


def rule_applies(rule: Rule, cert_type: str, at: datetime) -> bool:
    """Whether ``rule`` covers this certificate type (General rules cover all) and is valid at ``at``
    (``ValidFrom`` included, ``ValidTo`` excluded). ``cert_type`` is Vaccination/Test/Recovery/General
    or v/t/r; ``at`` must be timezone-aware."""
    kind = _certificate_type(cert_type)
    _aware(at, "at")
    type_matches = rule.certificate_type == "General" or rule.certificate_type == kind
    return type_matches and rule.valid_from <= at < rule.valid_to


def select_rules(rules: Iterable[Rule], *, now: datetime, country_of_arrival: str, issuer_country: str,
                 cert_type: str) -> list[Rule]:
    """The rules one verification must run: acceptance rules of the country of arrival and invalidation
    rules of the issuing country, that apply to ``cert_type`` at ``now``; of several valid versions of
    one identifier only the latest. Sorted by identifier."""
    latest: dict[str, Rule] = {}
    for rule in rules:
        wanted = country_of_arrival if rule.type == "Acceptance" else issuer_country
        if rule.country != wanted or not rule_applies(rule, cert_type, now):
            continue
        held = latest.get(rule.identifier)
        if held is None or rule.version_key > held.version_key:
            latest[rule.identifier] = rule
    return [latest[key] for key in sorted(latest)]


def _value_set(value: Any) -> Any:
    """Value sets as CertLogic rules use them: a list of codes. A gateway value set document
    (``{"valueSetValues": {code: {...}}}``) or a plain mapping gives its keys."""
    if isinstance(value, dict):
        return list(value.get("valueSetValues", value))
    return value


def external_data(payload: dict[str, Any], *, now: datetime, country_of_arrival: str, issuer_country: str,
                  value_sets: dict[str, Any] | None = None, exp: datetime | None = None,
                  iat: datetime | None = None) -> dict[str, Any]:
    """The data object rules are evaluated against, shaped as the EU verifier apps shape it."""
    external: dict[str, Any] = {
        "validationClock": _aware(now, "now").isoformat(),
        "valueSets": {name: _value_set(v) for name, v in (value_sets or {}).items()},
        "countryCode": country_of_arrival,
        "issuerCountryCode": issuer_country,
    }
    if exp is not None:
        external["exp"] = _aware(exp, "exp").isoformat()
    if iat is not None:
        external["iat"] = _aware(iat, "iat").isoformat()
    return {"payload": payload, "external": external}


def evaluate_rule(rule: Rule, data: dict[str, Any]) -> RuleOutcome:
    """Run one rule. Only a boolean result counts; an error or any other result gives ``passed=None``."""
    passed: bool | None = None
    error: str | None = None
    try:
        result = rule.program.evaluate(data)
    except certlogic.CertLogicError as exc:
        error = str(exc)
    except Exception as exc:  # a bug in the evaluator must not break a verification; report and log it
        log.exception("rule %s %s: evaluator failure", rule.identifier, rule.version)
        error = f"internal evaluator error ({type(exc).__name__})"
    else:
        if isinstance(result, bool):
            passed = result
        else:
            error = f"the rule gave {_short(result)}, not true or false"
    return RuleOutcome(rule.identifier, rule.version, passed, error, rule.description("en"), rule.description("fr"))


def evaluate_rules(rules: Iterable[Rule], payload: dict[str, Any], *, now: datetime, country_of_arrival: str,
                   issuer_country: str, cert_type: str, value_sets: dict[str, Any] | None = None,
                   exp: datetime | None = None, iat: datetime | None = None) -> list[RuleOutcome]:
    """Select the applicable rules (see :func:`select_rules`) and evaluate each against the payload; one
    outcome per rule, sorted by identifier."""
    data = external_data(payload, now=now, country_of_arrival=country_of_arrival, issuer_country=issuer_country,
                         value_sets=value_sets, exp=exp, iat=iat)
    selected = select_rules(rules, now=now, country_of_arrival=country_of_arrival, issuer_country=issuer_country,
                            cert_type=cert_type)
    return [evaluate_rule(rule, data) for rule in selected]
