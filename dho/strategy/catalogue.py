"""The catalogue of the Global Strategy on Digital Health 2020-2027, shipped as data.

``data/catalogue.json`` holds, in English and French and in the project's own short words, the four
strategic objectives with their policy options and outputs, the framework for action, and the annex's
proposed actions per objective x actor x term. This module loads that file once (``lru_cache``), checks
it strictly against the strategy's structure in ``dho/reference/data/gsdh_framework.json`` and exposes
lookups other domains use to show a linked objective or action (``objective``, ``annex_action``,
``actions``, ``label``). A broken file fails loudly with every problem listed, never half-loaded."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from dho.errors import FieldError, NotFound, ValidationFailed
from dho.i18n import _

DATA_PATH = Path(__file__).parent / "data" / "catalogue.json"
FRAMEWORK_PATH = Path(__file__).parents[1] / "reference" / "data" / "gsdh_framework.json"
MAX_TITLE = 200
MAX_SUMMARY = 400
MAX_FILE_BYTES = 2_000_000

ACTORS = ("member_states", "secretariat", "partners")
ACTOR_CODES = {"member_states": "MS", "secretariat": "SEC", "partners": "PAR"}
TERMS = ("short", "medium", "long")
TERM_CODES = {"short": "S", "medium": "M", "long": "L"}
ACTION_ID = re.compile(r"^(SO[1-9])\.(MS|SEC|PAR)\.([SML])([1-9][0-9]?)$")


class CatalogueError(ValueError):
    """The catalogue file is not valid; ``problems`` lists every fault found, one line each."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.problems = problems
        shown = "\n  - ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"strategy catalogue {path} is not valid ({len(problems)} problem(s)):\n  - {shown}{more}")


@dataclass(frozen=True)
class Item:
    """Anything in the catalogue with an id and a short title in both languages."""

    id: str
    title_en: str
    title_fr: str

    @property
    def kind(self) -> str:
        return "item"

    def title(self, locale: str = "en") -> str:
        return self.title_fr if locale == "fr" else self.title_en

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "title_en": self.title_en, "title_fr": self.title_fr}
        if locale:
            out["title"] = self.title(locale)
        return out


@dataclass(frozen=True)
class Actor(Item):
    code: str

    @property
    def kind(self) -> str:
        return "actor"


@dataclass(frozen=True)
class Term(Item):
    code: str
    years: str

    @property
    def kind(self) -> str:
        return "term"


@dataclass(frozen=True)
class FrameworkElement(Item):
    summary_en: str
    summary_fr: str

    @property
    def kind(self) -> str:
        return "framework_for_action"

    def summary(self, locale: str = "en") -> str:
        return self.summary_fr if locale == "fr" else self.summary_en


@dataclass(frozen=True)
class PolicyOption(Item):
    objective: str

    @property
    def kind(self) -> str:
        return "policy_option"

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        return {**super().as_dict(locale), "objective": self.objective}


@dataclass(frozen=True)
class Output(Item):
    objective: str

    @property
    def kind(self) -> str:
        return "output"

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        return {**super().as_dict(locale), "objective": self.objective}


@dataclass(frozen=True)
class AnnexAction(Item):
    objective: str
    actor: str
    term: str
    framework: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "annex_action"

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        return {**super().as_dict(locale), "objective": self.objective, "actor": self.actor, "term": self.term,
                "framework": list(self.framework)}


@dataclass(frozen=True)
class Objective(Item):
    summary_en: str
    summary_fr: str
    policy_options: tuple[PolicyOption, ...]
    outputs: tuple[Output, ...]

    @property
    def kind(self) -> str:
        return "objective"

    def summary(self, locale: str = "en") -> str:
        return self.summary_fr if locale == "fr" else self.summary_en

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        out = super().as_dict(locale)
        out.update(summary_en=self.summary_en, summary_fr=self.summary_fr,
                   policy_options=[p.as_dict(locale) for p in self.policy_options],
                   outputs=[o.as_dict(locale) for o in self.outputs])
        if locale:
            out["summary"] = self.summary(locale)
        return out


@dataclass(frozen=True)
class Catalogue:
    """The whole validated catalogue, with an index of every id."""

    source: dict[str, str]
    actors: tuple[Actor, ...]
    terms: tuple[Term, ...]
    framework: tuple[FrameworkElement, ...]
    objectives: tuple[Objective, ...]
    actions: tuple[AnnexAction, ...]
    index: dict[str, Item]


# --- loading and validation -------------------------------------------------------------------------------


class _Checker:
    """Collects problems while reading the raw JSON, so one run reports them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: set[str] = set()

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def text(self, raw: dict[str, Any], key: str, where: str, limit: int = MAX_TITLE) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{where}: '{key}' must be a non-empty string")
            return ""
        if len(value) > limit:
            self.fail(f"{where}: '{key}' is {len(value)} characters long (at most {limit})")
        if value != value.strip() or "\n" in value:
            self.fail(f"{where}: '{key}' has leading/trailing spaces or a line break")
        return value

    def ident(self, raw: dict[str, Any], where: str) -> str:
        value = raw.get("id")
        if not isinstance(value, str) or not value:
            self.fail(f"{where}: missing 'id'")
            return ""
        if value in self.seen:
            self.fail(f"{where}: duplicate id {value!r}")
        self.seen.add(value)
        return value

    def items(self, raw: Any, key: str, where: str) -> list[dict[str, Any]]:
        value = raw.get(key) if isinstance(raw, dict) else None
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(f"{where}: '{key}' must be a list of objects")
            return []
        return value

    def unknown_keys(self, raw: dict[str, Any], allowed: set[str], where: str) -> None:
        extra = sorted(set(raw) - allowed)
        if extra:
            self.fail(f"{where}: unknown field(s) {', '.join(extra)}")


def _titles(c: _Checker, raw: dict[str, Any], where: str) -> tuple[str, str, str]:
    return c.ident(raw, where), c.text(raw, "title_en", where), c.text(raw, "title_fr", where)


def parse(raw: Any, framework: dict[str, Any]) -> Catalogue:
    """Build a :class:`Catalogue` from decoded JSON, checked against the strategy framework.

    Raises :class:`CatalogueError` listing every problem: duplicate or malformed ids, missing or unknown
    objectives/policy options/outputs, annex actions pointing at an unknown objective, actor, term or
    framework element, empty or over-long titles in either language."""
    c = _Checker()
    if not isinstance(raw, dict):
        raise CatalogueError("(data)", ["the top level must be a JSON object"])
    c.unknown_keys(raw, {"schema", "title_en", "title_fr", "source", "actors", "terms", "framework_for_action",
                         "objectives", "annex_actions"}, "top level")
    source = raw.get("source")
    if not isinstance(source, dict) or not all(isinstance(v, str) for v in source.values()) \
            or not str(source.get("citation", "")).strip():
        c.fail("top level: 'source' must be an object of strings with a non-empty 'citation'")
        source = {}

    actors = []
    for i, a in enumerate(c.items(raw, "actors", "top level")):
        where = f"actors[{i}]"
        c.unknown_keys(a, {"id", "code", "title_en", "title_fr"}, where)
        ident, en, fr = _titles(c, a, where)
        if ident not in ACTORS or a.get("code") != ACTOR_CODES.get(ident):
            c.fail(f"{where}: actor {ident!r} with code {a.get('code')!r} is not one of {', '.join(ACTORS)}")
        actors.append(Actor(ident, en, fr, code=str(a.get("code"))))
    if sorted(a.id for a in actors) != sorted(ACTORS):
        c.fail(f"actors: exactly {', '.join(ACTORS)} are expected")

    terms = []
    for i, t in enumerate(c.items(raw, "terms", "top level")):
        where = f"terms[{i}]"
        c.unknown_keys(t, {"id", "code", "years", "title_en", "title_fr"}, where)
        ident, en, fr = _titles(c, t, where)
        if ident not in TERMS or t.get("code") != TERM_CODES.get(ident):
            c.fail(f"{where}: term {ident!r} with code {t.get('code')!r} is not one of {', '.join(TERMS)}")
        terms.append(Term(ident, en, fr, code=str(t.get("code")), years=c.text(t, "years", where, 10)))
    if sorted(t.id for t in terms) != sorted(TERMS):
        c.fail(f"terms: exactly {', '.join(TERMS)} are expected")

    fa_expected = [f["id"] for f in framework.get("framework_for_action", [])]
    fas = []
    for i, f in enumerate(c.items(raw, "framework_for_action", "top level")):
        where = f"framework_for_action[{i}]"
        c.unknown_keys(f, {"id", "title_en", "title_fr", "summary_en", "summary_fr"}, where)
        ident, en, fr = _titles(c, f, where)
        fas.append(FrameworkElement(ident, en, fr, summary_en=c.text(f, "summary_en", where, MAX_SUMMARY),
                                    summary_fr=c.text(f, "summary_fr", where, MAX_SUMMARY)))
    if [f.id for f in fas] != fa_expected:
        c.fail(f"framework_for_action: ids {[f.id for f in fas]} differ from the framework's {fa_expected}")

    expected = {o["id"]: o for o in framework.get("strategic_objectives", [])}
    objectives = []
    for i, o in enumerate(c.items(raw, "objectives", "top level")):
        where = f"objectives[{i}]"
        c.unknown_keys(o, {"id", "title_en", "title_fr", "summary_en", "summary_fr", "policy_options", "outputs"},
                       where)
        ident, en, fr = _titles(c, o, where)
        ref = expected.get(ident)
        if ref is None:
            c.fail(f"{where}: objective {ident!r} is not in the strategy framework")
        options = []
        for j, p in enumerate(c.items(o, "policy_options", where)):
            c.unknown_keys(p, {"id", "title_en", "title_fr"}, f"{where}.policy_options[{j}]")
            options.append(PolicyOption(*_titles(c, p, f"{where}.policy_options[{j}]"), objective=ident))
        outputs = []
        for j, p in enumerate(c.items(o, "outputs", where)):
            c.unknown_keys(p, {"id", "title_en", "title_fr"}, f"{where}.outputs[{j}]")
            outputs.append(Output(*_titles(c, p, f"{where}.outputs[{j}]"), objective=ident))
        if ref is not None:
            for label, have, want in (("policy options", [p.id for p in options], ref.get("policy_option_ids", [])),
                                      ("outputs", [p.id for p in outputs], ref.get("output_ids", []))):
                if have != want:
                    missing = [x for x in want if x not in have]
                    extra = [x for x in have if x not in want]
                    c.fail(f"{where}: {label} of {ident} differ from the framework"
                           f" (missing: {missing or 'none'}; unknown: {extra or 'none'}; order must match)")
        objectives.append(Objective(ident, en, fr, summary_en=c.text(o, "summary_en", where, MAX_SUMMARY),
                                    summary_fr=c.text(o, "summary_fr", where, MAX_SUMMARY),
                                    policy_options=tuple(options), outputs=tuple(outputs)))
    missing_objectives = [x for x in expected if x not in {o.id for o in objectives}]
    if missing_objectives:
        c.fail(f"objectives: missing {', '.join(missing_objectives)} from the strategy framework")

    objective_ids = {o.id for o in objectives}
    fa_ids = set(fa_expected)
    actions = []
    for i, a in enumerate(c.items(raw, "annex_actions", "top level")):
        where = f"annex_actions[{i}]"
        c.unknown_keys(a, {"id", "objective", "actor", "term", "title_en", "title_fr", "framework"}, where)
        ident, en, fr = _titles(c, a, where)
        where = f"annex action {ident or i}"
        obj, actor, term = a.get("objective"), a.get("actor"), a.get("term")
        if obj not in objective_ids:
            c.fail(f"{where}: unknown objective {obj!r}")
        if actor not in ACTORS:
            c.fail(f"{where}: unknown actor {actor!r} (expected one of {', '.join(ACTORS)})")
        if term not in TERMS:
            c.fail(f"{where}: unknown term {term!r} (expected one of {', '.join(TERMS)})")
        m = ACTION_ID.match(ident)
        if not m:
            c.fail(f"{where}: id must look like SO1.MS.S1 (objective.MS|SEC|PAR.S|M|L + number)")
        elif (m[1], m[2], m[3]) != (obj, ACTOR_CODES.get(str(actor)), TERM_CODES.get(str(term))):
            c.fail(f"{where}: id does not match its objective/actor/term ({obj}, {actor}, {term})")
        fw = a.get("framework", [])
        if not isinstance(fw, list) or any(f not in fa_ids for f in fw) or len(set(fw)) != len(fw):
            c.fail(f"{where}: 'framework' must list distinct framework-for-action ids ({', '.join(sorted(fa_ids))})")
            fw = []
        actions.append(AnnexAction(ident, en, fr, objective=str(obj), actor=str(actor), term=str(term),
                                   framework=tuple(fw)))
    for o in objectives:
        for actor in ACTORS:
            if not any(a.objective == o.id and a.actor == actor for a in actions):
                c.fail(f"annex_actions: {o.id} has no proposed action for {actor}")

    if c.problems:
        raise CatalogueError("(data)", c.problems)
    index: dict[str, Item] = {}
    for group in (actors, terms, fas, objectives, actions):
        index.update({x.id: x for x in group})
    for o in objectives:
        index.update({x.id: x for x in (*o.policy_options, *o.outputs)})
    return Catalogue(source=dict(source), actors=tuple(actors), terms=tuple(terms), framework=tuple(fas),
                     objectives=tuple(objectives), actions=tuple(actions), index=index)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CatalogueError(path, ["file not found"])
    if path.stat().st_size > MAX_FILE_BYTES:
        raise CatalogueError(path, [f"file is larger than {MAX_FILE_BYTES} bytes"])
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogueError(path, [f"not valid UTF-8 JSON: {exc}"]) from None


def load_file(path: Path | str, framework_path: Path | str = FRAMEWORK_PATH) -> Catalogue:
    """Read and validate a catalogue file; raises :class:`CatalogueError` naming the file and every problem."""
    path = Path(path)
    framework = _read_json(Path(framework_path))
    try:
        return parse(_read_json(path), framework)
    except CatalogueError as exc:
        raise CatalogueError(path, exc.problems) from None


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The shipped catalogue, loaded and validated on first use."""
    return load_file(DATA_PATH)


# --- lookups used by pages, APIs and other domains --------------------------------------------------------


def get(item_id: str) -> Item | None:
    """Any catalogue item by id (objective, policy option, output, annex action, FA, actor, term), or None."""
    return catalogue().index.get(item_id) if isinstance(item_id, str) else None


def objective(objective_id: str) -> Objective:
    """A strategic objective by id (``SO1``..``SO4``); raises NotFound otherwise."""
    item = get(objective_id)
    if not isinstance(item, Objective):
        raise NotFound(_("No strategic objective has the id %(id)s.", id=str(objective_id)[:40]))
    return item


def annex_action(action_id: str) -> AnnexAction:
    """A proposed annex action by id (e.g. ``SO2.MS.S4``); raises NotFound otherwise."""
    item = get(action_id)
    if not isinstance(item, AnnexAction):
        raise NotFound(_("No proposed action has the id %(id)s.", id=str(action_id)[:40]))
    return item


def check_filters(objective: str | None = None, actor: str | None = None, term: str | None = None) -> None:
    """Raise ValidationFailed (422) naming each unknown filter value; empty values mean "all"."""
    cat = catalogue()
    errors = []
    if objective and objective not in {o.id for o in cat.objectives}:
        errors.append(FieldError("objective", _("Unknown objective %(value)s; use one of %(allowed)s.",
                                                value=objective[:40], allowed=", ".join(o.id for o in cat.objectives))))
    if actor and actor not in ACTORS:
        errors.append(FieldError("actor", _("Unknown actor %(value)s; use one of %(allowed)s.",
                                            value=actor[:40], allowed=", ".join(ACTORS))))
    if term and term not in TERMS:
        errors.append(FieldError("term", _("Unknown term %(value)s; use one of %(allowed)s.",
                                           value=term[:40], allowed=", ".join(TERMS))))
    if errors:
        raise ValidationFailed(_("Some catalogue filters are not valid."), errors=errors)


def actions(objective: str | None = None, actor: str | None = None, term: str | None = None) -> list[AnnexAction]:
    """Annex actions in catalogue order, filtered by objective, actor and term (unknown values -> 422)."""
    check_filters(objective, actor, term)
    return [a for a in catalogue().actions
            if (not objective or a.objective == objective) and (not actor or a.actor == actor)
            and (not term or a.term == term)]


def label(item_id: str, locale: str = "en") -> str:
    """``"SO2.MS.S4 — short title"`` in the locale, for showing a linked item; an unknown id is shown as is."""
    item = get(item_id)
    if item is None:
        return str(item_id)
    return f"{item.id} — {item.title(locale)}"


def link(item_id: str) -> str:
    """The page address showing an item: its objective's section, anchored on the item."""
    item = get(item_id)
    if item is None:
        return "/strategy/catalogue"
    owner = getattr(item, "objective", None) or (item.id if isinstance(item, Objective) else None)
    return f"/strategy/catalogue?objective={owner}#{item.id}" if owner else f"/strategy/catalogue#{item.id}"
