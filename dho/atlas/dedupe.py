"""Likely duplicates among implementations (and among organisations of the master list).

Comparing every pair of records grows with the square of their number, so records are first put
into *blocks* that share a country and a name key (a word of the folded, translated name, or an
acronym), and only records inside a block are compared. Inside a name block each record meets a fixed
number of others: its ``window - 1`` next neighbours in two sort orders (the sorted-neighbourhood
method: the compared words, and the same string reversed, so that a difference at the start of a name
does not separate duplicates). The work per record is so bounded by a small constant that is reached
as soon as blocks hold more than a window, and the total grows linearly with the number of records.
Acronym blocks are capped at ``max_block`` and split by a second key. A fast character similarity
(rapidfuzz, in C, without numpy) drops the pairs that cannot be duplicates; the rest are scored by
name (word by word: the same word, a misspelt one, a translation, an acronym for several words)
and by what the records share (classification codes, coverage areas, organisations, solutions).
See docs/atlas-quality.md for the formula.

The core (``find_pairs``) works on plain ``Rec`` values, so the benchmark can run it without a
database; ``implementation_records`` and ``organisation_records`` read them from the database in a
few queries."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import Session

from dho.i18n import _

DEFAULT_THRESHOLD = 0.85
DEFAULT_WINDOW = 5  # in a name block, each record is compared with its next WINDOW - 1 records, in two orders
DEFAULT_BEST = 3  # of the pairs a record meets in name blocks, its BEST most similar (by the prefilter) are scored
DEFAULT_MAX_BLOCK = 12  # acronym blocks with more pairs than this are split by a second key
PREFILTER = 60.0  # token_sort_ratio (0-100) below which a pair in a block is not scored
TYPO_RATIO = 80.0  # two words of 4+ letters at least this similar are the same word misspelt
ACRONYM_QUALITY = 0.95
MAX_KEY_WORDS = 3  # the rarest words of a name used as its blocking keys
MAX_RUN = 6  # longest run of words whose initials may form an acronym
# What shared (or clearly different) facts add to (or take from) the name score.
CODES_WEIGHT = 0.05  # times the Jaccard index of the classification codes
AREAS_WEIGHT = 0.05  # times the Jaccard index of the coverage areas
AREAS_PENALTY = 0.10  # both name areas and none is shared: two deployments in different places
ORGS_WEIGHT = 0.03  # an implementer or funder in common
SOLUTIONS_WEIGHT = 0.05  # a solution in common; minus this when both name solutions and none is shared
WEBSITE_WEIGHT = 0.10  # organisations: the same website

# Function words: never part of an acronym, never compared.
_FUNCTION = ("a an and at au aux d da das de del des do dos du e el en et for in l la las le les los of on para "
             "pour the to y")
FUNCTION_WORDS = frozenset(_FUNCTION.split(" "))
# Words too common in names of digital-health systems to tell records apart; they still give
# their initial to acronyms ("National Health Information System" -> NHIS).
_STOP = ("national nationale nacional project projet proyecto projeto programme program programa system systems "
         "systeme sistema systemes sistemas phase initiative iniciativa")
STOP_WORDS = frozenset(_STOP.split(" "))
# Words of French, Spanish and Portuguese names, and English variants, mapped to one English word,
# so that a name and its translation compare as the same words.
TRANSLATIONS: dict[str, str] = {
    **dict.fromkeys(("sante", "salud", "saude", "sanitaire", "sanitaria", "sanitario"), "health"),
    **dict.fromkeys(("informacion", "informacao", "informations"), "information"),
    **dict.fromkeys(("gestion", "gestao", "manejo", "management"), "management"),
    **dict.fromkeys(("dossier", "expediente", "prontuario", "historia", "record", "records"), "record"),
    **dict.fromkeys(("electronique", "electronico", "electronica", "eletronico", "electronic"), "electronic"),
    **dict.fromkeys(("medical", "medicale", "medico", "medica", "clinique", "clinico", "clinical"), "medical"),
    **dict.fromkeys(("patient", "paciente", "patients", "pacientes"), "patient"),
    **dict.fromkeys(("vaccination", "vacunacion", "vacinacao", "immunisation", "immunization",
                     "inmunizacion", "vaccine", "vaccins", "vacunas"), "immunization"),
    **dict.fromkeys(("registre", "registro", "registry", "register"), "registry"),
    **dict.fromkeys(("communautaire", "comunitaria", "comunitario", "community"), "community"),
    **dict.fromkeys(("laboratoire", "laboratorio", "laboratory", "lab", "labo"), "laboratory"),
    **dict.fromkeys(("hopital", "hospitalier", "hospitaliere", "hospitalario", "hospitalar"), "hospital"),
    **dict.fromkeys(("surveillance", "vigilancia", "vigilance"), "surveillance"),
    **dict.fromkeys(("maladie", "maladies", "enfermedad", "enfermedades", "doenca", "doencas", "diseases"),
                    "disease"),
    **dict.fromkeys(("donnees", "datos", "dados"), "data"),
    **dict.fromkeys(("telemedecine", "telemedicina", "telehealth", "telesante", "telesalud"), "telemedicine"),
    **dict.fromkeys(("medicament", "medicaments", "medicamentos", "medicines", "medicine", "drugs"), "medicine"),
    **dict.fromkeys(("logistique", "logistica", "logistics"), "logistics"),
    **dict.fromkeys(("approvisionnement", "suministro", "abastecimento", "supply"), "supply"),
    **dict.fromkeys(("chaine", "cadena", "cadeia"), "chain"),
    **dict.fromkeys(("numerique", "digitale", "digital"), "digital"),
    **dict.fromkeys(("plateforme", "plataforma", "platform"), "platform"),
    **dict.fromkeys(("application", "aplicacion", "aplicativo", "app", "apps"), "application"),
    **dict.fromkeys(("mobile", "movil", "movel"), "mobile"),
    **dict.fromkeys(("mere", "madre", "mae", "maternelle", "materna", "materno", "maternal"), "maternal"),
    **dict.fromkeys(("enfant", "enfants", "nino", "ninos", "crianca", "infantile", "infantil", "child"), "child"),
    **dict.fromkeys(("paludisme", "malaria"), "malaria"),
    **dict.fromkeys(("tuberculose", "tuberculosis"), "tuberculosis"),
    **dict.fromkeys(("vih", "hiv"), "hiv"),
    **dict.fromkeys(("nutricion", "nutricao", "nutrition"), "nutrition"),
    **dict.fromkeys(("statistiques", "estadisticas", "estatisticas", "statistics"), "statistics"),
    **dict.fromkeys(("etat", "civil", "civile"), "civil"),
    **dict.fromkeys(("enregistrement", "inscripcion", "registration"), "registration"),
    **dict.fromkeys(("agents", "agent", "trabajadores", "agentes", "workers", "worker"), "worker"),
    **dict.fromkeys(("ressources", "recursos", "resources"), "resources"),
    **dict.fromkeys(("humaines", "humanos", "human"), "human"),
    **dict.fromkeys(("financement", "financiamiento", "financiamento", "financing"), "financing"),
    **dict.fromkeys(("assurance", "seguro", "insurance"), "insurance"),
    **dict.fromkeys(("urgence", "urgences", "urgencia", "urgencias", "emergencia", "emergencias", "emergency"),
                    "emergency"),
    **dict.fromkeys(("rapport", "rapports", "informes", "reporting", "report"), "reporting"),
}

_WORD = re.compile(r"[a-z0-9]+")
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9&\-]{1,9}$")


def fold(text: str) -> str:
    """Lower case without accents."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


class Word(NamedTuple):  # a tuple of two strings: the garbage collector soon stops tracking it
    folded: str  # the word as written, folded
    canon: str | None  # the English word it stands for; None for a stop word


@dataclass(slots=True)
class Rec:
    """What duplicate detection needs of a record."""

    id: int
    country: str | None
    name: str
    acronym: str | None = None
    codes: frozenset[str] = frozenset()
    areas: frozenset[str] = frozenset()
    orgs: frozenset[int] = frozenset()
    solutions: frozenset[int] = frozenset()
    website: str | None = None
    # filled by prepare()
    words: tuple[Word, ...] = ()
    canon: str = ""  # the compared words, sorted, joined by spaces
    acronyms: frozenset[str] = frozenset()  # acronyms the record is known by
    runs: frozenset[str] = frozenset()  # initials of runs of 2+ of its words
    keys: tuple[str, ...] = ()  # blocking keys: its rarest words in its country, rarest first
    weights: dict[str, float] = field(default_factory=dict)  # compared word -> rarity weight
    compared: tuple[Word, ...] = ()  # the words that are compared (stop words left out)
    # features cached once per record for the scorer (filled by prepare() and _weigh())
    rcanon: str = ""  # canon reversed: the second sort order of the sorted neighbourhood
    where: dict[str, int] = field(default_factory=dict)  # compared canon -> its index (when no word repeats)
    repeats: bool = False  # a compared word occurs twice
    initials: str = ""  # initials of all its words (stop words included)
    own: str | None = None  # the acronym field, letters only, trailing digits dropped
    folded_words: tuple[str, ...] = ()  # the whole name folded and split (to tell accent/case changes)
    wlist: tuple[float, ...] = ()  # weight of each compared word
    wsum: float = 1.0


@dataclass
class Pair:
    a: int
    b: int
    score: float
    name_score: float
    reasons: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "score": self.score, "name_score": self.name_score,
                "reasons": self.reasons}


@dataclass
class Stats:
    records: int = 0
    blocks: int = 0
    split_blocks: int = 0  # blocks compared in part: windowed name blocks, acronym blocks split by a second key
    windowed_blocks: int = 0  # name blocks larger than the window: compared by sorted neighbourhood
    compared: int = 0  # distinct pairs met in name windows (compared by the prefilter) and acronym blocks
    candidates: int = 0  # pairs scored
    scored: int = 0
    pairs: int = 0


def words_of(name: str) -> tuple[Word, ...]:
    """The name's words, folded, function words dropped, each with its English counterpart; a
    number written apart joins the word before it ("DHIS 2" is "dhis2")."""
    raw = _WORD.findall(fold(name))
    joined: list[str] = []
    for w in raw:
        if w.isdigit() and joined and not joined[-1].isdigit() and len(w) <= 2:
            joined[-1] += w
        else:
            joined.append(w)
    out = []
    for w in joined:
        if w in FUNCTION_WORDS:
            continue
        out.append(Word(w, None if w in STOP_WORDS else TRANSLATIONS.get(w, w)))
    return tuple(out)


def _strip_digits(text: str) -> str:
    return text.rstrip("0123456789")


def prepare(rec: Rec) -> Rec:
    rec.words = words_of(rec.name)
    rec.compared = tuple(w for w in rec.words if w.canon)
    rec.canon = " ".join(sorted(w.canon for w in rec.compared if w.canon))
    # a word in capitals is an acronym, unless the whole name is in capitals
    shouted = rec.name.upper() == rec.name
    acronyms = set() if shouted else {_strip_digits(fold(t)) for t in re.split(r"[\s()/,;:]+", rec.name)
                                      if _ACRONYM.match(t)}
    if rec.acronym:
        acronyms.add(_strip_digits(re.sub(r"[^a-z0-9]", "", fold(rec.acronym))))
    if len(rec.words) == 1 and len(rec.words[0].folded) <= 8:
        acronyms.add(_strip_digits(rec.words[0].folded))
    rec.acronyms = frozenset(a for a in acronyms if 2 <= len(a) <= MAX_RUN)
    initials = [w.folded[0] for w in rec.words]
    rec.runs = frozenset("".join(initials[i:j]) for i in range(len(initials))
                         for j in range(i + 2, min(len(initials), i + MAX_RUN) + 1))
    rec.initials = "".join(initials)
    rec.rcanon = rec.canon[::-1]
    rec.where = {w.canon or "": i for i, w in enumerate(rec.compared)}
    rec.repeats = len(rec.where) < len(rec.compared)
    rec.own = _strip_digits(re.sub(r"[^a-z0-9]", "", fold(rec.acronym))) if rec.acronym else None
    rec.folded_words = tuple(fold(rec.name).split())
    rec.wlist = tuple(1.0 for _ in rec.compared)
    rec.wsum = float(len(rec.compared)) or 1.0
    return rec


# ---------------------------------------------------------------- blocking


def _name_keys(rec: Rec) -> tuple[str, ...]:
    return rec.keys


def _weigh(records: list[Rec]) -> None:
    """Per country, how rare each compared word is (a word in few names tells records apart; one in
    every name hardly does): weight log(1 + n / df). Blocking keys are the rarest words' first four
    letters (a misspelling after them keeps the key)."""
    df: dict[tuple[str, str], int] = defaultdict(int)
    size: dict[str, int] = defaultdict(int)
    for r in records:
        c = r.country or "*"
        size[c] += 1
        for canon in {w.canon for w in r.words if w.canon}:
            df[(c, canon)] += 1
    for r in records:
        c = r.country or "*"
        n = size[c]
        r.weights = {w.canon: math.log(1 + n / df[(c, w.canon)]) for w in r.words if w.canon}
        rare = sorted(r.weights, key=lambda k: (-r.weights[k], k))
        r.keys = tuple(dict.fromkeys("w:" + k[:4] for k in rare))[:MAX_KEY_WORDS]
        r.wlist = tuple(r.weights.get(w.canon or "", 1.0) for w in r.compared)
        r.wsum = sum(r.wlist) or 1.0


def _windows(members: list[Rec], size: int) -> Iterable[list[Rec]]:
    """Overlapping windows of the records sorted by name (an acronym part still over the cap)."""
    ordered = sorted(members, key=lambda r: (r.canon, r.id))
    step = max(size // 2, 1)
    for start in range(0, max(len(ordered) - step, 1), step):
        yield ordered[start:start + size]


def blocks(records: list[Rec], max_block: int = DEFAULT_MAX_BLOCK, stats: Stats | None = None,
           window: int = DEFAULT_WINDOW) -> Iterable[tuple[str, list[Rec]]]:
    """(kind, records) for every block of records that share a country and a key. Kind "name":
    records sharing a name key, in a sort order, each to be compared with its next ``window - 1``
    records (a block larger than the window comes twice: sorted by its compared words, and by the
    same string reversed). Kind "acronym": who is known by an acronym and who has a run of words
    with those initials, every pair to be compared. Records of different countries never share a
    block."""
    stats = stats or Stats()
    by_name: dict[tuple[str, str], list[Rec]] = defaultdict(list)
    by_acronym: dict[tuple[str, str], tuple[list[Rec], list[Rec]]] = defaultdict(lambda: ([], []))
    for r in records:
        country = r.country or "*"
        for key in _name_keys(r):
            by_name[(country, key)].append(r)
        for a in r.acronyms:
            by_acronym[(country, a)][0].append(r)
        for run in r.runs:
            if len(run) >= 2:
                by_acronym[(country, run)][1].append(r)
    for members in by_name.values():
        if len(members) < 2:
            continue
        stats.blocks += 1
        if len(members) <= window:  # every pair is a neighbour
            yield "name", members
            continue
        stats.split_blocks += 1
        stats.windowed_blocks += 1
        yield "name", sorted(members, key=lambda r: (r.canon, r.id))
        yield "name", sorted(members, key=lambda r: (r.rcanon, r.id))
    for short, long_ in by_acronym.values():
        if not short or len(_union(short, long_)) < 2:
            continue
        if len(short) * len(long_) + len(short) ** 2 // 2 <= max_block:
            stats.blocks += 1
            yield "acronym", _union(short, long_)
            continue
        # too many: pair only the records that also share another word (a second key)
        stats.split_blocks += 1
        acr_key = "w:" + _strip_digits(min(short[0].acronyms, default=""))[:4]
        sub: dict[str, tuple[list[Rec], list[Rec]]] = defaultdict(lambda: ([], []))
        for side, members in ((0, short), (1, long_)):
            for r in members:
                for k in r.keys:
                    if k != acr_key:
                        sub[k][side].append(r)
        for s_part, l_part in sub.values():
            if not s_part or not l_part:
                continue
            stats.blocks += 1
            if len(s_part) * len(l_part) <= max_block * max_block // 4:
                yield "acronym", _union(s_part, l_part)
            else:
                stats.windowed_blocks += 1
                yield from (("acronym", w) for w in _windows(_union(s_part, l_part), max_block))


def _union(a: list[Rec], b: list[Rec]) -> list[Rec]:
    seen = {r.id for r in a}
    return [*a, *(r for r in b if r.id not in seen)]


def _acronym_pair(x: Rec, y: Rec) -> str | None:
    both = x.acronyms & (y.runs | y.acronyms)
    return min(both) if both else None


def candidates(records: list[Rec], max_block: int = DEFAULT_MAX_BLOCK, stats: Stats | None = None,
               window: int = DEFAULT_WINDOW, best: int = DEFAULT_BEST) -> set[tuple[int, int]]:
    """Pairs (lower id first) worth scoring, at most ``2 * best`` per record: of the pairs met in
    name windows whose prefilter similarity reaches ``PREFILTER``, each record's ``best`` most
    similar, and of its acronym pairs (no prefilter) its ``best`` most similar; a pair is kept when
    it is among the best of either of its records."""
    stats = stats or Stats()
    out: set[tuple[int, int]] = set()
    neighbours: set[tuple[int, int]] = set()
    acronym_pairs: set[tuple[int, int]] = set()
    reach = max(window, 2) - 1
    for kind, members in blocks(records, max_block, stats, window):
        if kind == "acronym":
            for i, x in enumerate(members):
                for y in members[i + 1:]:
                    if x.id != y.id and (_acronym_pair(x, y) or _acronym_pair(y, x)):
                        acronym_pairs.add((x.id, y.id) if x.id < y.id else (y.id, x.id))
            continue
        ids = [r.id for r in members]
        for i, a in enumerate(ids):
            for b in ids[i + 1:i + 1 + reach]:
                if a != b:
                    neighbours.add((a, b) if a < b else (b, a))
    stats.compared += len(neighbours) + len(acronym_pairs)
    canon = {r.id: r.canon for r in records}
    # the compared words are sorted already, so a plain ratio is the token-sort ratio
    _keep_best(out, ((a, b, fuzz.ratio(canon[a], canon[b], score_cutoff=PREFILTER)) for a, b in neighbours
                     if (a, b) not in acronym_pairs), best)
    # (1 + ratio: an acronym pair is kept even when the names share no letter once common words are left out)
    _keep_best(out, ((a, b, 1.0 + fuzz.ratio(canon[a], canon[b])) for a, b in acronym_pairs), best)
    stats.candidates += len(out)
    return out


def _keep_best(out: set[tuple[int, int]], pairs: Iterable[tuple[int, int, float]], best: int) -> None:
    """Add to ``out`` the pairs (similarity above 0) that are among the ``best`` most similar of
    either of their records (on a tie, the lower id first)."""
    met: dict[int, list[tuple[float, int, int]]] = defaultdict(list)
    for a, b, sim in pairs:
        if sim:
            met[a].append((sim, -b, a))
            met[b].append((sim, -a, b))
    for own in met.values():
        if len(own) > best:
            own.sort(reverse=True)
            del own[best:]
        for _sim, minus_other, rid in own:
            other = -minus_other
            out.add((rid, other) if rid < other else (other, rid))


# ---------------------------------------------------------------- scoring


def _match_words(x: Rec, y: Rec, floor: float = 0.0) -> tuple[float, list[dict[str, str]]]:
    """Word-by-word name similarity: the share of each name's words (weighted by rarity) found in
    the other, each counted by how well it matches; the smaller share, squared. And the reasons
    (only when the score reaches ``floor``). Uses the features ``prepare`` and ``_weigh`` cached."""
    xs = x.compared
    ys = y.compared
    if not xs or not ys:
        return 0.0, []
    qx = [0.0] * len(xs)
    qy = [0.0] * len(ys)
    same: list[tuple[int, int]] = []  # (i, j): the same word, or its translation
    if y.repeats:
        free: dict[str, list[int]] = {}
        for j, wy in enumerate(ys):
            free.setdefault(wy.canon or "", []).append(j)
        for i, wx in enumerate(xs):
            slots = free.get(wx.canon or "")
            if slots:
                j = slots.pop(0)
                qx[i] = qy[j] = 1.0
                same.append((i, j))
    else:
        where = y.where
        for i, wx in enumerate(xs):
            j = where.get(wx.canon or "")
            if j is not None and not qy[j]:
                qx[i] = qy[j] = 1.0
                same.append((i, j))
    misspelt: list[str] = []
    if len(same) == len(xs) == len(ys):
        acronyms: list[str] = []
        score = 1.0
    else:
        score, acronyms = _near_words(x, y, qx, qy, misspelt)
    if score < floor:  # cannot reach the threshold: no reasons to write
        return score, []
    translated = [f"{xs[i].folded} = {ys[j].folded}" for i, j in same if xs[i].folded != ys[j].folded]
    return score, _word_reasons(x, y, translated, misspelt, acronyms)


def _near_words(x: Rec, y: Rec, qx: list[float], qy: list[float], misspelt: list[str]) -> tuple[float, list[str]]:
    """Match the words left over: misspellings, then acronyms; return the score."""
    xs, ys = x.compared, y.compared
    ratio = fuzz.ratio
    for i, wx in enumerate(xs):  # a misspelt word
        if qx[i] or len(wx.folded) < 4:
            continue
        best, best_j = 0.0, -1
        for j, wy in enumerate(ys):
            if not qy[j] and len(wy.folded) >= 4:
                r = ratio(wx.folded, wy.folded, score_cutoff=TYPO_RATIO)
                if r > best:
                    best, best_j = r, j
        if best >= TYPO_RATIO:
            qx[i] = qy[best_j] = best / 100
            misspelt.append(f"{wx.folded} ~ {ys[best_j].folded}")
    acronyms: list[str] = []
    for big, qs, qb, s_words, other in ((ys, qx, qy, xs, y), (xs, qy, qx, ys, x)):
        own = other.own
        for i, w in enumerate(s_words):
            if qs[i]:
                continue
            letters = _strip_digits(w.folded)
            if own and letters == own:  # the acronym the other record is known by stands for all its name
                qs[i] = ACRONYM_QUALITY
                for j in range(len(big)):
                    qb[j] = qb[j] or ACRONYM_QUALITY
                acronyms.append(f"{w.folded.upper()} = {other.name}")
                continue
            if len(letters) < 2 or len(letters) > MAX_RUN:
                continue
            at = other.initials.find(letters)
            if at < 0:
                continue
            run = other.words[at:at + len(letters)]
            run_canon = [v for v in run if v.canon]
            hits = [j for j, v in enumerate(big) if not qb[j] and any(v is r for r in run_canon)]
            if not hits and run_canon:
                continue
            qs[i] = ACRONYM_QUALITY
            for j in hits:
                qb[j] = ACRONYM_QUALITY
            acronyms.append(f"{w.folded.upper()} = {' '.join(v.folded for v in run)}")
    cover_x = sum(q * w for q, w in zip(qx, x.wlist, strict=True)) / x.wsum
    cover_y = sum(q * w for q, w in zip(qy, y.wlist, strict=True)) / y.wsum
    return min(cover_x, cover_y) ** 2, acronyms


def _word_reasons(x: Rec, y: Rec, translated: list[str], misspelt: list[str], acronyms: list[str]
                  ) -> list[dict[str, str]]:
    reasons = []
    if x.folded_words == y.folded_words and x.name != y.name:
        reasons.append({"kind": "accent_case", "detail": _("the same name apart from accents, case or spacing")})
    elif x.canon == y.canon and not translated:
        reasons.append({"kind": "same_words", "detail": _("the same words once common words are left out")})
    if translated:
        reasons.append({"kind": "translation", "detail": _("the same words in another language: %(words)s",
                                                           words="; ".join(translated))})
    if misspelt:
        reasons.append({"kind": "spelling", "detail": _("words spelt differently: %(words)s",
                                                        words="; ".join(misspelt))})
    if acronyms:
        reasons.append({"kind": "acronym", "detail": _("an acronym for words of the other name: %(words)s",
                                                       words="; ".join(acronyms))})
    return reasons


def _jaccard(a: frozenset[Any], b: frozenset[Any]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _shown(values: Iterable[Any]) -> str:
    items = sorted(str(v) for v in values)
    return ", ".join(items[:5]) + (" ..." if len(items) > 5 else "")


MAX_BONUS = CODES_WEIGHT + AREAS_WEIGHT + ORGS_WEIGHT + SOLUTIONS_WEIGHT + WEBSITE_WEIGHT


def score_pair(x: Rec, y: Rec, threshold: float = 0.0) -> Pair | None:
    """The score of a pair (0-1) and the reasons a reviewer reads (see docs/atlas-quality.md); None
    when the name alone is too far apart for the pair to reach ``threshold``."""
    name, reasons = _match_words(x, y, threshold - MAX_BONUS)
    if name < threshold - MAX_BONUS:
        return None
    score = name
    if x.codes & y.codes:
        score += CODES_WEIGHT * _jaccard(x.codes, y.codes)
        reasons.append({"kind": "codes", "detail": _("classification codes in common: %(codes)s",
                                                     codes=_shown(x.codes & y.codes))})
    if x.areas and y.areas:
        if x.areas & y.areas:
            score += AREAS_WEIGHT * _jaccard(x.areas, y.areas)
            reasons.append({"kind": "areas", "detail": _("coverage areas in common: %(areas)s",
                                                         areas=_shown(x.areas & y.areas))})
        else:
            score -= AREAS_PENALTY
            reasons.append({"kind": "different_areas", "detail": _("no coverage area in common")})
    if x.orgs & y.orgs:
        score += ORGS_WEIGHT
        reasons.append({"kind": "organisations", "detail": _("organisations in common: %(ids)s",
                                                             ids=_shown(x.orgs & y.orgs))})
    if x.solutions and y.solutions:
        if x.solutions & y.solutions:
            score += SOLUTIONS_WEIGHT
            reasons.append({"kind": "solutions", "detail": _("solutions in common: %(ids)s",
                                                             ids=_shown(x.solutions & y.solutions))})
        else:
            score -= SOLUTIONS_WEIGHT
            reasons.append({"kind": "different_solutions", "detail": _("no solution in common")})
    if x.website and y.website and x.website == y.website:
        score += WEBSITE_WEIGHT
        reasons.append({"kind": "website", "detail": _("the same website %(site)s", site=x.website)})
    score = round(min(max(score, 0.0), 1.0), 3)
    reasons.insert(0, {"kind": "name", "detail": _("name similarity %(score)s", score=f"{name:.2f}")})
    a, b = (x, y) if x.id < y.id else (y, x)
    return Pair(a.id, b.id, score, round(name, 3), reasons)


def find_pairs(records: list[Rec], *, threshold: float = DEFAULT_THRESHOLD, max_block: int = DEFAULT_MAX_BLOCK,
               window: int = DEFAULT_WINDOW, best: int = DEFAULT_BEST, stats: Stats | None = None) -> list[Pair]:
    """Likely duplicate pairs among ``records``, best first. Records of different countries are
    never compared, so the work is done one country at a time (what is built for one country is
    freed before the next, and stays small enough for the processor's caches)."""
    stats = stats if stats is not None else Stats()
    by_country: dict[str, list[Rec]] = defaultdict(list)
    for r in records:
        if not r.words:
            prepare(r)
        by_country[r.country or "*"].append(r)
    stats.records = len(records)
    out = []
    for group in by_country.values():
        _weigh(group)
        by_id = {r.id: r for r in group}
        for a, b in candidates(group, max_block, stats, window, best):
            stats.scored += 1
            pair = score_pair(by_id[a], by_id[b], threshold)
            if pair is not None and pair.score >= threshold:
                out.append(pair)
    stats.pairs = len(out)
    out.sort(key=lambda p: (-p.score, p.a, p.b))
    return out


# ---------------------------------------------------------------- from the database


def implementation_records(session: Session, *, country: str | None = None,
                           ids: Iterable[int] | None = None) -> list[Rec]:
    """The live implementations (not merged, not archived) as records to compare, in five queries."""
    from dho.atlas.models import Classification, Coverage, Implementation, ImplementationOrg, ImplementationSolution

    stmt = select(Implementation.id, Implementation.country_iso3, Implementation.name).where(
        Implementation.merged_into_id.is_(None), Implementation.status != "archived")
    if country:
        stmt = stmt.where(Implementation.country_iso3 == country.upper())
    if ids is not None:
        stmt = stmt.where(Implementation.id.in_(list(ids)))
    rows = session.execute(stmt.order_by(Implementation.id)).all()
    wanted = [r.id for r in rows]
    codes: dict[int, set[str]] = defaultdict(set)
    areas: dict[int, set[str]] = defaultdict(set)
    orgs: dict[int, set[int]] = defaultdict(set)
    sols: dict[int, set[int]] = defaultdict(set)
    for chunk_start in range(0, len(wanted), 5000):
        chunk = wanted[chunk_start:chunk_start + 5000]
        for iid, scheme, code in session.execute(select(
                Classification.implementation_id, Classification.scheme, Classification.code).where(
                Classification.implementation_id.in_(chunk))):
            codes[iid].add(f"{scheme}:{code}")
        for iid, area in session.execute(select(Coverage.implementation_id, Coverage.area_code).where(
                Coverage.implementation_id.in_(chunk), Coverage.area_code != "")):
            areas[iid].add(area)
        for iid, org in session.execute(select(ImplementationOrg.implementation_id,
                                               ImplementationOrg.organisation_id).where(
                ImplementationOrg.implementation_id.in_(chunk))):
            orgs[iid].add(org)
        for iid, sol in session.execute(select(ImplementationSolution.implementation_id,
                                               ImplementationSolution.solution_id).where(
                ImplementationSolution.implementation_id.in_(chunk))):
            sols[iid].add(sol)
    return [prepare(Rec(r.id, r.country_iso3, r.name, codes=frozenset(codes[r.id]), areas=frozenset(areas[r.id]),
                        orgs=frozenset(orgs[r.id]), solutions=frozenset(sols[r.id]))) for r in rows]


def _site(url: str | None) -> str | None:
    if not url:
        return None
    host = re.sub(r"^https?://", "", url.strip().lower()).split("/")[0]
    return host.removeprefix("www.") or None


def organisation_records(session: Session, *, country: str | None = None) -> list[Rec]:
    from dho.accounts.models import Organisation

    stmt = select(Organisation)
    if country:
        stmt = stmt.where(Organisation.country_iso3 == country.upper())
    return [prepare(Rec(o.id, o.country_iso3, o.name, acronym=o.acronym, website=_site(o.website)))
            for o in session.execute(stmt.order_by(Organisation.id)).scalars()]


def duplicates(session: Session, principal: Any, *, entity: str = "implementation", country: str | None = None,
               threshold: float = DEFAULT_THRESHOLD, limit: int | None = None) -> dict[str, Any]:
    """Likely duplicates the caller may see, with the names of both records: implementations the
    caller may read (the public: published ones only), or organisations of the master list."""
    from dho.accounts.models import Organisation
    from dho.accounts.permissions import Target, can
    from dho.atlas.models import Implementation
    from dho.errors import FieldError, ValidationFailed
    from dho.reference.models import Country

    if entity not in ("implementation", "organisation"):
        raise ValidationFailed(_("Unknown kind of record."), errors=[FieldError("entity", entity[:20])])
    stats = Stats()
    if entity == "organisation":
        records = organisation_records(session, country=country)
    else:
        regions = dict(session.execute(select(Country.iso3, Country.who_region)).all())
        stmt = select(Implementation.id, Implementation.status, Implementation.country_iso3,
                      Implementation.owner_org_id).where(Implementation.merged_into_id.is_(None),
                                                         Implementation.status != "archived")
        if country:
            stmt = stmt.where(Implementation.country_iso3 == country.upper())
        visible = [r.id for r in session.execute(stmt) if r.status == "published" or can(
            principal, "unpublished.read", Target(country_iso3=r.country_iso3, region_code=regions.get(r.country_iso3),
                                                  organisation_id=r.owner_org_id))]
        records = implementation_records(session, country=country, ids=visible)
    by_id = {r.id: r for r in records}
    pairs = find_pairs(records, threshold=threshold, stats=stats)
    total = len(pairs)
    if limit is not None:
        pairs = pairs[:limit]
    owner = {}
    if entity == "organisation":
        owner = {o.id: o.acronym for o in session.execute(select(Organisation).where(
            Organisation.id.in_({i for p in pairs for i in (p.a, p.b)}))).scalars()}

    def side(rid: int) -> dict[str, Any]:
        r = by_id[rid]
        out = {"id": r.id, "name": r.name, "country_iso3": r.country}
        if entity == "organisation":
            out["acronym"] = owner.get(rid)
        return out

    return {"entity": entity, "country": country.upper() if country else None, "threshold": threshold,
            "total": total, "stats": {"records": stats.records, "blocks": stats.blocks,
                                      "split_blocks": stats.split_blocks, "compared": stats.compared,
                                      "candidates": stats.candidates},
            "pairs": [{"a": side(p.a), "b": side(p.b), "score": p.score, "name_score": p.name_score,
                       "reasons": p.reasons} for p in pairs]}
