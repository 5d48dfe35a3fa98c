"""HCERT verification throughput: the full pipeline on one core against its ceiling, raw ECDSA P-256
signature verification with ``cryptography``, measured in the same run; and batch verification of a
file of QR strings on every core (``dho.trust.batch.verify_file``).

    .venv/bin/python bench/trust_verify.py [--quick] [--batch-size N] [--rounds R] [--jobs J]

Setup (not timed): a document signer (EC P-256, from ``dho.trust.testpki``, kept in the cache folder so
that cached batch files stay verifiable), 2000 distinct EU DCC vaccination certificates signed with it
(names, dates, vaccines and UVCIs vary, seeded; 550-650 characters as ``HC1:`` strings), a trust store
of 200 document signers of 30 countries (the right one among them), a revocation index of 10 batches of
1000 hashes (10 000 entries, none matching; four are scoped to the signer's own kid and three to its
country, so the lookups probe real tables) and, for the second figure, three business rules of a
country of arrival.

Timed on one core, in interleaved rounds (median over the rounds of the time per operation):

* ``ceiling``: ``public_key.verify(der_signature, sig_structure, ECDSA(SHA256))`` over the same
  certificates (DER signatures and signature structures precomputed): the cost no verifier of these
  certificates can avoid;
* ``full``: ``HcertVerifier.verify(text, context)``, no business rules; every verdict must be valid;
* ``full_with_rules``: the same with the three rules and a country of arrival (reported separately);
* ``stages``: each step function of the pipeline timed alone on the previous step's output, so the
  breakdown shows where the time goes (``decode_hc1``: the compiled one-call decoding that replaces
  prefix to COSE parsing and the claims' CBOR on the common path; ``sum`` adds the general steps).

``ratio_full_to_ceiling`` = ceiling time per operation / full time per operation (the share of the
ceiling's throughput the full pipeline reaches); the goal is at least 0.7.

Batch: a file of ``--batch-size`` QR strings (default 1 000 000; generated with every core and cached
in the cache folder keyed by size and signer, so reruns skip it) verified with ``verify_file`` on every
core with a progress bar; a sample of the first 20 000 lines is verified with ``jobs=1`` in the same
run for the speed-up. Every line must be valid.

Prints one JSON document on the last line of stdout and writes it to bench/results/trust_verify.json.
Exit status 0 when every check passed and the ratio met the goal, 3 when the checks passed but the
ratio is below the goal, 1 when a check failed (a benchmark of a broken verifier is worthless).

``compiled_fast_path`` says whether the compiled decoding fast path (dho/trust/_hc1fast.pyx) was used;
``DHO_TRUST_PURE=1`` runs the same benchmark on the pure-Python path, for comparison.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import multiprocessing
import os
import platform
import random
import statistics
import sys
import time
import unicodedata
import zlib
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402
from machine import cpu_model, git_state, version  # noqa: E402 (bench/ is the script's folder)

from dho.trust import cose, hcert, testpki  # noqa: E402
from dho.trust.base45 import b45encode  # noqa: E402
from dho.trust.batch import VerifierSpec, verify_file  # noqa: E402
from dho.trust.fastpath import fast  # noqa: E402
from dho.trust.keys import SignerKey  # noqa: E402
from dho.trust.revocation import RevocationIndex, validate_batch  # noqa: E402
from dho.trust.rules import evaluate_rules, parse_rule  # noqa: E402

RESULTS = BENCH_DIR / "results" / "trust_verify.json"
CACHE = BENCH_DIR / "results" / "trust_verify_cache"
FORMAT = 1  # bump when the generated certificates change, so cached batch files are rebuilt
CERTS = 2000
TRUST_STORE_SIZE = 200
REVOCATION_BATCHES = 10  # of 1000 entries each
SAMPLE = 20_000
GOAL = 0.7
BUSY_LOAD = 1.0
ISSUER_COUNTRY = "NL"
ARRIVAL_COUNTRY = "FR"
COUNTRIES = ("AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
             "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NO", "PL", "PT", "RO", "SE", "SI", "SK")

# (medicinal product, marketing authorisation holder, vaccine prophylaxis, doses in a full course)
VACCINES = (("EU/1/20/1528", "ORG-100030215", "1119349007", 2), ("EU/1/20/1507", "ORG-100031184", "1119349007", 2),
            ("EU/1/21/1529", "ORG-100001699", "J07BX03", 2), ("EU/1/20/1525", "ORG-100001417", "J07BX03", 1),
            ("EU/1/21/1618", "ORG-100032020", "J07BX03", 2))
FAMILY = ("Smith-Jones", "van der Berg", "Dubois", "Müller", "García Márquez", "Nowak", "Rossi", "Jansen",
          "Ó Súilleabháin", "Papadopoulou", "Lindqvist", "Kowalczyk-Zielińska", "De Vries", "Novák", "Horváth",
          "Fernandes Oliveira", "Andersen", "Bianchi", "Schmidt", "Virtanen")
GIVEN = ("Charles Edward", "Anna", "Maria Theresa", "Jan", "Sofie", "Luca", "Éloïse", "Pieter Johannes",
         "Zofia", "Søren", "Ana Isabel", "Marek", "Ingrid", "Giulia", "Björn", "Jean-Baptiste", "Noor", "Aoife")
ISSUERS = ("Ministry of Health Welfare and Sport", "Rijksinstituut voor Volksgezondheid en Milieu",
           "CIBG - Ministry of Health")


def log(msg: str) -> None:
    print(f"[trust_verify] {msg}", file=sys.stderr, flush=True)


# ---- certificates ---------------------------------------------------------------------------------------

def transliterate(name: str) -> str:
    """ICAO 9303 style, roughly: accents dropped, upper case, anything but A-Z becomes '<'."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    plain = plain.replace("ø", "O").replace("Ø", "O").upper()
    return "".join(c if "A" <= c <= "Z" else "<" for c in plain)[:80]


def payload(i: int) -> dict[str, Any]:
    """A realistic EU DCC 1.3.3 vaccination certificate, deterministic in ``i``."""
    rnd = random.Random(i * 7919 + 17)
    fn, gn = rnd.choice(FAMILY), rnd.choice(GIVEN)
    mp, ma, vp, sd = rnd.choice(VACCINES)
    dn = sd + rnd.choice((0, 0, 1))
    sd = max(sd, dn)  # a booster is written n/n
    day = datetime(2021, 1, 1) + timedelta(days=rnd.randrange(1000))
    dob = datetime(1930, 1, 1) + timedelta(days=rnd.randrange(29_000))
    uvci = f"URN:UVCI:01:{ISSUER_COUNTRY}:{rnd.getrandbits(128):032X}#{rnd.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}"
    return {"ver": "1.3.3", "nam": {"fn": fn, "fnt": transliterate(fn), "gn": gn, "gnt": transliterate(gn)},
            "dob": dob.strftime("%Y-%m-%d"),
            "v": [{"tg": "840539006", "vp": vp, "mp": mp, "ma": ma, "dn": dn, "sd": sd, "dt": day.strftime("%Y-%m-%d"),
                   "co": ISSUER_COUNTRY, "is": rnd.choice(ISSUERS), "ci": uvci}]}


def mint(i: int, key, kid: bytes, iat: int) -> str:
    """One HC1 string: CWT claims -> COSE_Sign1 (ES256) -> zlib -> Base45 -> prefix."""
    claims = {1: ISSUER_COUNTRY, 4: iat + 365 * 86400, 6: iat, -260: {1: payload(i)}}
    signed = cose.encode_sign1(cbor2.dumps(claims), key, kid)
    return "HC1:" + b45encode(zlib.compress(signed, 9))


_GEN: tuple[Any, bytes, int] | None = None


def _gen_init(key_pem: bytes, kid: bytes, iat: int) -> None:
    global _GEN
    _GEN = (serialization.load_pem_private_key(key_pem, None), kid, iat)


def _gen_range(start: int, stop: int) -> str:
    assert _GEN is not None
    key, kid, iat = _GEN
    return "".join(mint(i, key, kid, iat) + "\n" for i in range(start, stop))


class Signer:
    """The benchmark's document signer, kept in the cache folder (key and certificate)."""

    def __init__(self, cache: Path):
        path = cache / "signer.json"
        now = datetime.now(UTC)
        data = None
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or datetime.fromisoformat(data["renew_after"]) <= now:
                data = None
        if data is None:
            sca = testpki.make_sca(ISSUER_COUNTRY, years=12)
            dsc = testpki.make_dsc(sca, ISSUER_COUNTRY, days=3650, usages="tvr")
            # every certificate this signer mints expires a year after it is issued: renew well before
            data = {"format": FORMAT, "key": dsc.key_pem().decode(), "cert": base64.b64encode(dsc.der).decode(),
                    "iat": int(now.timestamp()) - 3600, "renew_after": (now + timedelta(days=300)).isoformat()}
            cache.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data), encoding="utf-8")
        self.key_pem = data["key"].encode()
        self.key = serialization.load_pem_private_key(self.key_pem, None)
        self.der = base64.b64decode(data["cert"])
        self.party = testpki.Party(self.key, testpki.x509.load_der_x509_certificate(self.der))
        self.kid = self.party.kid
        self.iat = int(data["iat"])


def batch_file(signer: Signer, n: int, cache: Path, jobs: int) -> tuple[Path, float | None]:
    """The cached file of ``n`` QR strings (built with every core when missing) and its build time."""
    path = cache / f"batch-{n}-{signer.kid.hex()}-v{FORMAT}.txt"
    if path.exists():
        return path, None
    for old in cache.glob("batch-*.txt"):  # files of an older signer can no longer be verified
        if signer.kid.hex() not in old.name:
            old.unlink()
    log(f"generating {n:,} certificates with {jobs} processes (cached as {path.name})")
    t0 = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    step = 5000
    ranges = [(s, min(s + step, n)) for s in range(0, n, step)]
    with open(tmp, "w", encoding="ascii") as out, ProcessPoolExecutor(
            max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_gen_init,
            initargs=(signer.key_pem, signer.kid, signer.iat)) as pool:
        for k, text in enumerate(pool.map(_gen_range, *zip(*ranges, strict=True))):
            out.write(text)
            if k % 20 == 19:
                log(f"  {ranges[k][1]:,} / {n:,}")
    tmp.replace(path)
    return path, time.perf_counter() - t0


def head_file(source: Path, n: int, target: Path) -> Path:
    """The first ``n`` lines of ``source`` as their own file (the single-core sample)."""
    if not target.exists():
        with open(source, "rb") as src, open(target.with_suffix(".tmp"), "wb") as dst:
            for _, line in zip(range(n), src, strict=False):
                dst.write(line)
        target.with_suffix(".tmp").replace(target)
    return target


# ---- the verifier's world ---------------------------------------------------------------------------------

def trust_store_certificates(signer: Signer) -> list[bytes]:
    """200 document-signer certificates of 30 countries, ours in the middle."""
    scas = {c: testpki.make_sca(c) for c in COUNTRIES}
    ders = [testpki.make_dsc(scas[COUNTRIES[i % len(COUNTRIES)]]).der for i in range(TRUST_STORE_SIZE - 1)]
    ders.insert(len(ders) // 2, signer.der)
    return ders


def revocation_batches(signer: Signer, others: list[bytes], rnd: random.Random) -> list[dict]:
    """10 batches of 1000 random hashes (none of our certificates): 4 scoped to our kid (every hash type),
    3 kid-less for our country, 3 for other signers."""
    from dho.trust.keys import kid_of

    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    scopes = [(ISSUER_COUNTRY, signer.kid, t) for t in ("SIGNATURE", "UCI", "COUNTRYCODEUCI", "SIGNATURE")]
    scopes += [(ISSUER_COUNTRY, None, t) for t in ("SIGNATURE", "UCI", "COUNTRYCODEUCI")]
    scopes += [(COUNTRIES[i], kid_of(others[i]), "UCI") for i in range(3)]
    out = []
    for country, kid, hash_type in scopes[:REVOCATION_BATCHES]:
        out.append({"country": country, "expires": expires.isoformat().replace("+00:00", "Z"),
                    "kid": base64.b64encode(kid).decode() if kid else None, "hashType": hash_type,
                    "entries": [{"hash": base64.b64encode(rnd.randbytes(16)).decode()} for _ in range(1000)]})
    return out


def business_rules() -> list[dict]:
    """Three simple acceptance rules of the country of arrival, that every generated certificate meets."""
    def rule(n: int, text: str, logic: Any, fields: list[str]) -> dict:
        return {"Identifier": f"VR-{ARRIVAL_COUNTRY}-{n:04d}", "Type": "Acceptance", "Country": ARRIVAL_COUNTRY,
                "Version": "1.0.0", "SchemaVersion": "1.3.0", "Engine": "CERTLOGIC", "EngineVersion": "1.0.0",
                "CertificateType": "Vaccination", "Description": [{"lang": "en", "desc": text}],
                "ValidFrom": "2021-06-01T00:00:00Z", "ValidTo": "2030-06-01T00:00:00Z",
                "AffectedFields": fields, "Logic": logic}
    return [
        rule(1, "The vaccination course is complete.",
             {">=": [{"var": "payload.v.0.dn"}, {"var": "payload.v.0.sd"}]}, ["v.0.dn", "v.0.sd"]),
        rule(2, "The vaccine is authorised in the EU.",
             {"in": [{"var": "payload.v.0.mp"}, [v[0] for v in VACCINES]]}, ["v.0.mp"]),
        rule(3, "The last dose was given at least 14 days ago.",
             {"not-before": [{"plusTime": [{"var": "external.validationClock"}, 0, "day"]},
                             {"plusTime": [{"var": "payload.v.0.dt"}, 14, "day"]}]}, ["v.0.dt"]),
    ]


# ---- timing -------------------------------------------------------------------------------------------------

def per_op_us(fn, items: list) -> tuple[float, float]:
    """(wall, CPU) microseconds per call of ``fn`` over ``items`` (one pass). CPU time is this process's:
    on a shared machine it leaves out the time other processes took the core."""
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    for x in items:
        fn(x)
    return (time.perf_counter() - t0) / len(items) * 1e6, (time.process_time() - c0) / len(items) * 1e6


class InPipeline:
    """Times the steps inside real ``verify`` calls by wrapping the functions the pipeline calls (in
    ``hcert``, ``cose`` and ``revocation``, and the verifier's revocation index and schema check), for
    one diagnostic pass (:meth:`run` installs them and puts the originals back). The wrappers add well
    under a microsecond per step; the timed figures never run with them."""

    STEPS = (("unprefix", hcert, "prefix"), ("decode_base45", hcert, "base45"), ("inflate", hcert, "inflate"),
             ("parse_cose", hcert, "cose_parse"), ("verify_signature", cose, "signature"),
             ("decode_claims", hcert, "claims"), ("numeric_date", hcert, "claims"),
             ("hcert_content", hcert, "claims"), ("uvci", hcert, "revocation"))

    def __init__(self, verifier: hcert.HcertVerifier):
        self.verifier = verifier
        self.ns: dict[str, int] = {}
        self.saved: list[tuple[Any, str, Any, bool]] = []

    def install(self) -> None:
        verifier = self.verifier
        for name, module, stage in self.STEPS:
            self._wrap(module, name, stage)
        if fast is not None:  # the compiled one-call path replaces the first steps and the claim readers
            for name, stage in (("decode_hc1", "decode"), ("claim_fields", "claims"), ("dcc_entry", "claims"),
                                ("dcc_vaccination_valid", "schema")):
                self._wrap(fast, name, stage)
        self._wrap(hcert, "to_json_document", "schema")
        if verifier.schema_check is not hcert.check_payload:  # the default is recognised by identity: leave it
            self._wrap(verifier, "schema_check", "schema")
        self._wrap(verifier.revocation, "check", "revocation")

    def _wrap(self, owner: Any, name: str, stage: str) -> None:
        original = getattr(owner, name)
        ns = self.ns
        clock = time.perf_counter_ns

        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return original(*args, **kwargs)
            finally:
                ns[stage] = ns.get(stage, 0) + clock() - t0

        self.saved.append((owner, name, original, name in vars(owner)))
        setattr(owner, name, timed)

    def run(self, texts: list[str], ctx: hcert.Context) -> dict[str, float]:
        """One instrumented pass: the wrappers are in place only during it."""
        self.ns.clear()
        self.install()
        try:
            gc.collect()
            t0 = time.perf_counter_ns()
            for t in texts:
                self.verifier.verify(t, ctx)
            total = time.perf_counter_ns() - t0
        finally:
            self.restore()
        out = {k: v / len(texts) / 1000 for k, v in self.ns.items()}
        out["rest"] = total / len(texts) / 1000 - sum(out.values())
        out["total"] = total / len(texts) / 1000
        return out

    def restore(self) -> None:
        for owner, name, original, own in reversed(self.saved):
            if own:  # a module function or an instance attribute: put it back
                setattr(owner, name, original)
            else:  # a method wrapped on the instance: drop the wrapper, the class's method shows again
                delattr(owner, name)
        self.saved.clear()


def stage_functions(verifier: hcert.HcertVerifier, ctx: hcert.Context, texts: list[str]) -> dict[str, tuple]:
    """Each step of the pipeline as (function, inputs): the inputs are the previous step's outputs."""
    policy, now = verifier.policy, ctx.now
    assert now is not None
    bodies = [hcert.unprefix(t, policy) for t in texts]
    compressed = [hcert.decode_base45(b) for b in bodies]
    raws = [hcert.inflate(c, policy) for c in compressed]
    msgs = [hcert.parse_cose(r, policy) for r in raws]
    signer = verifier.trust.candidates(msgs[0].kid()[0])[0]
    claims_list = [hcert.decode_claims(m, policy) for m in msgs]
    payloads = [hcert.hcert_content(c)[1] for c in claims_list]
    documents = [hcert.to_json_value(p) for p in payloads]
    ts = now.timestamp()

    def header_checks(m: cose.Sign1) -> None:
        kid, _ = m.kid()
        keys = verifier.trust.candidates(kid)
        for k in keys:
            cose.key_matches(m.alg, k.public_key)
        cose.signature_shape(m.alg, m.signature)

    def signature(m: cose.Sign1) -> None:
        assert cose.verify_signature(m.alg, signer.public_key, m.to_be_signed(), m.signature)

    def claims(m: cose.Sign1) -> None:
        c = hcert.decode_claims(m, policy)
        iat = hcert.numeric_date(c, hcert.CLAIM_IAT, "iat")
        exp = hcert.numeric_date(c, hcert.CLAIM_EXP, "exp")
        _kind, p = hcert.hcert_content(c)
        assert iat <= ts + 300 and exp >= ts - 300 and c[hcert.CLAIM_ISS].upper() == signer.country
        assert signer.valid_at(datetime.fromtimestamp(iat, UTC)) and hcert.certificate_type(p) in signer.usages

    def revocation(pair: tuple[cose.Sign1, dict]) -> None:
        m, p = pair
        ci, co = hcert.uvci(p)
        assert verifier.revocation.check(m.kid()[0], signer.country, uci=ci, co=co, signature=m.signature,
                                         alg=m.alg, now=now) is None

    def schema(p: dict) -> None:
        assert verifier.schema_check("eu-dcc", hcert.to_json_value(p)) is None

    stages: dict[str, tuple] = {}
    if fast is not None:
        limits = (policy.max_input_chars, policy.max_inflated_bytes, policy.max_cbor_depth)
        stages["decode_hc1"] = (lambda t: fast.decode_hc1(t, *limits), texts)
    return stages | {
        "prefix": (lambda t: hcert.unprefix(t, policy), texts),
        "base45": (hcert.decode_base45, bodies),
        "inflate": (lambda c: hcert.inflate(c, policy), compressed),
        "cose_parse": (lambda r: hcert.parse_cose(r, policy), raws),
        "header_checks": (header_checks, msgs),
        "signature": (signature, msgs),
        "claims": (claims, msgs),
        "revocation": (revocation, list(zip(msgs, payloads, strict=True))),
        "schema": (schema, payloads),
        "_documents": (None, documents),
    }


def rules_stage(rules: list, documents: list[dict], now: datetime, signer_country: str) -> tuple:
    iat, exp = now - timedelta(days=1), now + timedelta(days=300)

    def run(doc: dict) -> None:
        outcomes = evaluate_rules(rules, doc, now=now, country_of_arrival=ARRIVAL_COUNTRY,
                                  issuer_country=signer_country, cert_type="v", iat=iat, exp=exp)
        assert len(outcomes) == 3 and all(o.passed for o in outcomes)
    return run, documents


# ---- main ----------------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI smoke run: a 20 000-line batch")
    parser.add_argument("--batch-size", type=int, help="lines of the batch file (default 1 000 000, 20 000 quick)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of the single-core figures (>= 5)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes of the batch run")
    parser.add_argument("--cache-dir", type=Path, default=CACHE, help="where the signer and batch files are kept")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    rounds = max(5, args.rounds)
    size = args.batch_size or (20_000 if args.quick else 1_000_000)
    started = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    warnings: list[str] = []
    failures: list[str] = []
    if load_before[0] > BUSY_LOAD:
        warnings.append(f"busy machine: 1-minute load average {load_before[0]} before the run")
        log("warning: " + warnings[-1])

    # -- setup
    t0 = time.perf_counter()
    signer = Signer(args.cache_dir)
    texts = [mint(i, signer.key, signer.kid, signer.iat) for i in range(CERTS)]
    lengths = sorted(len(t) for t in texts)
    ders = trust_store_certificates(signer)
    rnd = random.Random(11)
    batches = revocation_batches(signer, [d for d in ders if d != signer.der], rnd)
    rule_objs = business_rules()
    now = datetime.now(UTC)
    spec = VerifierSpec(certificates=tuple(ders), revocation_batches=tuple(batches), now=now)
    verifier, ctx = spec.build()
    spec_rules = VerifierSpec(certificates=tuple(ders), revocation_batches=tuple(batches), rules=tuple(rule_objs),
                              country_of_arrival=ARRIVAL_COUNTRY, now=now)
    verifier_rules, ctx_rules = spec_rules.build()
    index = RevocationIndex()
    for b in batches:
        index.add_batch(validate_batch(b, upload=False))
    setup_s = time.perf_counter() - t0
    log(f"setup {setup_s:.1f} s: {CERTS} certificates of {lengths[0]}-{lengths[-1]} characters, "
        f"{len(verifier.trust)} signers, {sum(len(b['entries']) for b in batches)} revocation entries")

    # -- checks: every certificate verifies, with and without rules; the ceiling's inputs
    for name, v, c in (("full", verifier, ctx), ("full_with_rules", verifier_rules, ctx_rules)):
        bad = [(i, r.failure) for i, r in enumerate(v.verify(t, c) for t in texts) if not r.valid]
        if bad:
            failures.append(f"{name}: {len(bad)} of {CERTS} certificates not valid, first {bad[0]}")
    public_key = SignerKey.from_certificate(signer.party.cert).public_key
    ceiling_inputs = []
    for t in texts:
        m = hcert.parse_cose(hcert.inflate(hcert.decode_base45(t[4:])))
        der = encode_dss_signature(int.from_bytes(m.signature[:32], "big"), int.from_bytes(m.signature[32:], "big"))
        ceiling_inputs.append((der, m.to_be_signed()))
    algorithm = ec.ECDSA(hashes.SHA256())
    assert isinstance(public_key, ec.EllipticCurvePublicKey)

    def ceiling(pair: tuple[bytes, bytes]) -> None:
        public_key.verify(pair[0], pair[1], algorithm)

    stages = stage_functions(verifier, ctx, texts)
    documents = stages.pop("_documents")[1]
    stages["rules"] = rules_stage([parse_rule(r) for r in rule_objs], documents, now, ISSUER_COUNTRY)
    cases = {"ceiling": (ceiling, ceiling_inputs), "full": (lambda t: verifier.verify(t, ctx), texts),
             "full_with_rules": (lambda t: verifier_rules.verify(t, ctx_rules), texts)}
    for fn, items in [*cases.values(), *stages.values()]:  # warm-up (and the stage asserts run once)
        per_op_us(fn, items[:200])
    probe = InPipeline(verifier)

    # -- single-core rounds, interleaved
    wall: dict[str, list[float]] = {k: [] for k in [*cases, *stages]}
    cpu: dict[str, list[float]] = {k: [] for k in [*cases, *stages]}
    inside: list[dict[str, float]] = []
    try:
        for r in range(rounds):
            for name, (fn, items) in [*cases.items(), *stages.items()]:
                w, c = per_op_us(fn, items)
                wall[name].append(w)
                cpu[name].append(c)
            inside.append(probe.run(texts, ctx))
            log(f"round {r + 1}/{rounds} (CPU us per op): ceiling {cpu['ceiling'][-1]:.1f}, full {cpu['full'][-1]:.1f},"
                f" with rules {cpu['full_with_rules'][-1]:.1f}")
    finally:
        probe.restore()
    med = {k: statistics.median(v) for k, v in cpu.items()}
    med_wall = {k: statistics.median(v) for k, v in wall.items()}
    single = {}
    for name in cases:
        single[name] = {"cpu_us_per_op_median": round(med[name], 2), "per_second": round(1e6 / med[name], 1),
                        "wall_us_per_op_median": round(med_wall[name], 2),
                        "wall_per_second": round(1e6 / med_wall[name], 1),
                        "cpu_us_per_op_runs": [round(x, 2) for x in cpu[name]],
                        "wall_us_per_op_runs": [round(x, 2) for x in wall[name]]}
    ratio = med["ceiling"] / med["full"]
    ratio_wall = med_wall["ceiling"] / med_wall["full"]
    ratio_rules = med["ceiling"] / med["full_with_rules"]
    per_round = [round(c / f, 3) for c, f in zip(cpu["ceiling"], cpu["full"], strict=True)]
    isolated = {k: round(med[k], 2) for k in stages if k != "rules"}
    isolated["sum"] = round(sum(v for k, v in isolated.items() if k != "decode_hc1"), 2)  # the general steps
    isolated["full_minus_sum"] = round(med["full"] - isolated["sum"], 2)
    in_pipeline = {k: round(statistics.median(x.get(k, 0.0) for x in inside), 2)
                   for k in ("decode", "prefix", "base45", "inflate", "cose_parse", "signature", "claims",
                             "revocation", "schema", "rest", "total")}
    in_pipeline["share"] = {k: round(v / in_pipeline["total"], 3) for k, v in in_pipeline.items()
                            if k != "total" and isinstance(v, float)}
    if ratio < GOAL:
        warnings.append(f"full verification reaches {ratio:.2f} of the ceiling's throughput, goal {GOAL}")

    # -- batch
    jobs = max(1, args.jobs)
    path, gen_s = batch_file(signer, size, args.cache_dir, jobs)
    sample_n = min(SAMPLE, size)
    sample = head_file(path, sample_n, args.cache_dir / f"{path.stem}-head{sample_n}.txt")
    batch_spec = VerifierSpec(certificates=tuple(ders), revocation_batches=tuple(batches))
    log(f"single-core sample: {sample_n:,} lines")
    one = verify_file(sample, batch_spec, jobs=1, progress=False)
    log(f"batch: {size:,} lines with {jobs} processes")
    many = verify_file(path, batch_spec, jobs=jobs, progress=True)
    for name, s, n in (("sample", one, sample_n), ("batch", many, size)):
        if s.total != n or s.valid != n:
            failures.append(f"{name}: {s.valid} of {s.total} lines valid, expected {n} of {n}: {s.by_code}")
    batch = {"lines": size, "jobs": jobs, "seconds": round(many.seconds, 2), "per_second": round(many.per_second, 1),
             "single_core_sample": {"lines": sample_n, "seconds": round(one.seconds, 3),
                                    "per_second": round(one.per_second, 1)},
             "speedup_over_single_core": round(many.per_second / one.per_second, 2) if one.per_second else None,
             "generation_s": round(gen_s, 1) if gen_s is not None else None, "file_cached": gen_s is None,
             "file": str(path), "summary": many.as_dict()}

    result = {
        "benchmark": "trust_verify", "ok": not failures, "failures": failures, "warnings": warnings,
        "ratio_full_to_ceiling": round(ratio, 3), "goal": GOAL, "goal_met": ratio >= GOAL,
        "compiled_fast_path": fast is not None,
        "ratio_full_to_ceiling_wall": round(ratio_wall, 3),
        "ratio_full_with_rules_to_ceiling": round(ratio_rules, 3), "ratio_per_round": per_round,
        "single_core": single,
        "stages": {"isolated_cpu_us": isolated, "in_pipeline_wall_us": in_pipeline,
                   "rules_isolated_cpu_us": round(med["rules"], 2)},
        "batch": batch,
        "settings": {"rounds": rounds, "certificates": CERTS, "hc1_chars": {"min": lengths[0],
                     "median": lengths[len(lengths) // 2], "max": lengths[-1]},
                     "trust_store_signers": len(verifier.trust), "revocation_entries": 1000 * len(batches),
                     "rules": len(rule_objs), "country_of_arrival": ARRIVAL_COUNTRY, "algorithm": "ES256",
                     "quick": args.quick, "setup_s": round(setup_s, 2)},
        "code": git_state(),
        "machine": {"cpus": os.cpu_count(), "cpu_model": cpu_model(), "python": platform.python_version(),
                    "cryptography": version("cryptography"), "cbor2": version("cbor2"),
                    "jsonschema_rs": version("jsonschema-rs"), "openssl": _openssl(),
                    "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                    "busy_before_run": load_before[0] > BUSY_LOAD},
        "wall_s": round(time.monotonic() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    if failures:
        return 1
    return 0 if ratio >= GOAL else 3


def _openssl() -> str | None:
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        return backend.openssl_version_text()
    except (ImportError, AttributeError):
        return None


if __name__ == "__main__":
    sys.exit(main())
