"""Batch verification of HCERT QR strings: a file of one ``HC1:`` string per line, verified on every core.

A border service or an auditor may hold millions of scanned codes. :func:`verify_file` reads such a file
as a stream (a bounded number of chunks is in flight at any time, whatever the file size), hands chunks
of lines to worker processes and adds up what they answer: how many lines are valid, and how many failed
with each error code. It can also write one JSON line per input line (``line``, ``valid``, ``code``) in
the order of the input.

Workers are started with the ``spawn`` method (safe with threads in the parent and the same on every
platform), so nothing is inherited: each worker receives a :class:`VerifierSpec`, a picklable
description of the verifier (document-signer certificates as DER bytes, DID trust lists as JSON bytes,
the policy, revocation batches in the gateway layout, business rules in the gateway layout) and builds
its :class:`~dho.trust.hcert.HcertVerifier` once. Every line of one run is judged at the same instant
(``now``, fixed when the run starts), so the answer does not depend on how long the run takes.

Bad lines never stop a run: empty lines, binary data and text that is not a health certificate get the
verifier's own codes (``HC_INPUT_EMPTY``, ``HC_INPUT_NOT_TEXT``, ``HC_PREFIX_MISSING`` ...). A line
longer than the policy allows is never held in memory: it is skipped while reading and counted as
``HC_INPUT_TOO_LARGE``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cryptography import x509

from dho.trust.hcert import Context, HcertVerifier, Policy, TrustStore
from dho.trust.keys import SignerKey, load_certificate

TOO_LARGE = "HC_INPUT_TOO_LARGE"
_READ_BLOCK = 1 << 16
_IN_FLIGHT_PER_JOB = 2  # chunks queued per worker: enough to keep them busy, little memory


class BatchSetupError(ValueError):
    """The description of the verifier cannot be turned into a verifier (bad certificate, rule, batch...)."""


@dataclass(frozen=True)
class VerifierSpec:
    """A picklable description of a verifier, from which each worker process builds its own.

    ``certificates``: document-signer certificates (DER, PEM or base64 DER bytes). ``trust_lists``: DID
    trust list documents (JSON bytes) whose document-signer keys are trusted, optionally only those of
    ``trust_domain``; their proofs are not checked here (check them before trusting a list).
    ``revocation_batches`` and ``rules`` are in the EU gateway JSON layout. ``country_of_arrival`` turns
    the business rules on. ``now`` fixes the verification time (default: when the run starts)."""

    certificates: tuple[bytes, ...] = ()
    trust_lists: tuple[bytes, ...] = ()
    trust_domain: str | None = None
    policy: Policy = field(default_factory=Policy)
    revocation_batches: tuple[dict, ...] = ()
    rules: tuple[dict, ...] = ()
    country_of_arrival: str | None = None
    value_sets: dict | None = field(default=None, hash=False)
    now: datetime | None = None

    def build(self, now: datetime | None = None) -> tuple[HcertVerifier, Context]:
        """The verifier and the context this description stands for; raises :class:`BatchSetupError`."""
        try:
            return self._build(now)
        except BatchSetupError:
            raise
        except Exception as exc:  # every way a description can be wrong gets one plain error
            raise BatchSetupError(f"cannot build the verifier: {type(exc).__name__}: {str(exc)[:300]}") from exc

    def _build(self, now: datetime | None) -> tuple[HcertVerifier, Context]:
        store = TrustStore()
        for index, data in enumerate(self.certificates):
            store.add(SignerKey.from_certificate(_certificate(data), source=f"certificate {index + 1}"))
        if self.trust_lists:
            from dho.trust.did import read_did_trustlist
            from dho.trust.trustlist import load_gateway_trustlist

            for data in self.trust_lists:
                if data.lstrip()[:1] == b"[":  # the gateway layout (GET /api/trust/trustlist)
                    for key in load_gateway_trustlist(data).all_keys():
                        store.add(key)
                    continue
                for key in read_did_trustlist(data).select(domain=self.trust_domain):
                    store.add(key)
        if not len(store):
            raise BatchSetupError("no document-signer key: give certificates or a trust list")
        revocation = None
        if self.revocation_batches:
            from dho.trust.trustlist import load_revocation

            # plain batches or the signed form the gateway exports ({"batchId", "deleted", "cms"})
            revocation = load_revocation(list(self.revocation_batches), now=now or self.now)
            if getattr(revocation, "warnings", None):  # a file given on purpose must be entirely readable
                raise BatchSetupError("revocation: " + "; ".join(revocation.warnings)[:500])
        rules = []
        if self.rules:
            from dho.trust.rules import parse_rule

            rules = [parse_rule(obj) for obj in self.rules]
        when = now or self.now or datetime.now(UTC)
        if when.tzinfo is None:
            raise BatchSetupError("now must be a timezone-aware datetime")
        verifier = HcertVerifier(store, policy=self.policy, revocation=revocation, rules=rules)
        context = Context(now=when, country_of_arrival=self.country_of_arrival, value_sets=self.value_sets)
        return verifier, context


def _certificate(data: bytes) -> x509.Certificate:
    return load_certificate(data)


@dataclass
class BatchSummary:
    """What a batch run found. ``by_code`` counts the failures by error code (valid lines are not in it);
    ``seconds`` is the wall time of the whole run, worker start-up included."""

    total: int
    valid: int
    invalid: int
    by_code: dict[str, int]
    seconds: float
    jobs: int = 1

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "valid": self.valid, "invalid": self.invalid,
                "by_code": dict(sorted(self.by_code.items())), "seconds": round(self.seconds, 3),
                "per_second": round(self.per_second, 1), "jobs": self.jobs}


# ---- reading ------------------------------------------------------------------------------------------

# One input line as shipped to a worker: (line number, the bytes without the line ending) or, for a line
# over the limit, (line number, its length in bytes).
Item = tuple[int, bytes | int]


def read_lines(handle: IO[bytes], max_chars: int) -> Iterator[tuple[Item, int]]:
    """Yield ``((line number, bytes or length), bytes consumed)`` for every line of a binary stream.

    A line is read with a bounded ``readline``; one longer than ``max_chars`` (after its line ending) is
    drained block by block and only its length is kept, so memory stays bounded on hostile input."""
    limit = max_chars + 3  # room for "\r\n" and one more byte to tell "too long" from "exactly at the limit"
    number = 0
    while True:
        raw = handle.readline(limit)
        if not raw:
            return
        number += 1
        consumed = len(raw)
        if raw.endswith(b"\n") or len(raw) < limit:
            body = raw[:-1] if raw.endswith(b"\n") else raw
            if body.endswith(b"\r"):
                body = body[:-1]
            if len(body) > max_chars:
                yield (number, len(body)), consumed
            else:
                yield (number, body), consumed
            continue
        length = len(raw)
        while True:  # drain the rest of an oversized line without keeping it
            block = handle.readline(_READ_BLOCK)
            if not block:
                break
            consumed += len(block)
            if block.endswith(b"\n"):
                length += len(block) - 1
                break
            length += len(block)
        yield (number, length), consumed


def _chunks(handle: IO[bytes], max_chars: int, size: int) -> Iterator[tuple[list[Item], int]]:
    items: list[Item] = []
    consumed = 0
    for item, n in read_lines(handle, max_chars):
        items.append(item)
        consumed += n
        if len(items) >= size:
            yield items, consumed
            items, consumed = [], 0
    if items:
        yield items, consumed


# ---- verifying ----------------------------------------------------------------------------------------

ChunkResult = tuple[int, dict[str, int], list[str] | None]
_WORKER: tuple[HcertVerifier, Context] | None = None


def _init_worker(spec: VerifierSpec, now: datetime) -> None:
    global _WORKER
    _WORKER = spec.build(now)


def verify_items(verifier: HcertVerifier, context: Context, items: Sequence[Item], want_lines: bool
                 ) -> ChunkResult:
    """Verify one chunk: (number valid, failures by code, the JSON lines when asked for)."""
    valid = 0
    failures: Counter[str] = Counter()
    lines: list[str] | None = [] if want_lines else None
    for number, data in items:
        if isinstance(data, int):
            code: str | None = TOO_LARGE
        else:
            verdict = verifier.verify(data, context)
            code = None if verdict.valid else (verdict.failure.code if verdict.failure else "HC_INTERNAL")
        if code is None:
            valid += 1
        else:
            failures[code] += 1
        if lines is not None:
            lines.append(json.dumps({"line": number, "valid": code is None, "code": code}))
    return valid, dict(failures), lines


def _worker_chunk(items: list[Item], want_lines: bool) -> ChunkResult:
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not initialised")
    return verify_items(*_WORKER, items, want_lines)


def _progress(enabled: bool, total_bytes: int):
    """A rich progress bar on stderr (by bytes read: the number of lines is unknown until the end)."""
    if not enabled:
        return None
    from rich import progress as rp
    from rich.console import Console

    return rp.Progress(rp.TextColumn("verifying"), rp.BarColumn(), rp.TaskProgressColumn(),
                       rp.TextColumn("{task.fields[lines]:,} lines, {task.fields[valid]:,} valid"),
                       rp.TextColumn("{task.fields[rate]}"), rp.TimeElapsedColumn(), rp.TimeRemainingColumn(),
                       console=Console(stderr=True), transient=False)


def verify_file(path: str | os.PathLike, spec: VerifierSpec, *, jobs: int | None = None, chunk: int = 2000,
                progress: bool = True, out: str | os.PathLike | IO[str] | None = None) -> BatchSummary:
    """Verify every line of ``path`` (one QR string per line) and return the counts.

    ``jobs`` worker processes (default: every CPU; 1 verifies in this process), ``chunk`` lines per task,
    a progress bar on stderr when ``progress``, and with ``out`` (a path or a text stream) one JSON line
    per input line, in input order. Raises :class:`BatchSetupError` when ``spec`` is unusable and
    ``OSError`` when the files cannot be read or written; a bad line only counts as a failure."""
    jobs = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
    chunk = max(1, chunk)
    started = time.perf_counter()
    now = spec.now or datetime.now(UTC)
    verifier, context = spec.build(now)  # in this process too: a bad description fails here, clearly
    total_bytes = os.path.getsize(path)
    valid, failures, total = 0, Counter(), 0
    with ExitStack() as stack:
        handle = stack.enter_context(open(path, "rb"))
        sink: IO[str] | None = None
        if out is not None:
            sink = out if hasattr(out, "write") else stack.enter_context(open(out, "w", encoding="utf-8"))  # type: ignore[arg-type]
        bar = _progress(progress, total_bytes)
        task = None
        if bar is not None:
            stack.enter_context(bar)
            task = bar.add_task("verify", total=max(total_bytes, 1), lines=0, valid=0, rate="")

        def take(result: ChunkResult, n_bytes: int, n_lines: int) -> None:
            nonlocal valid, total
            ok, bad, lines = result
            valid += ok
            total += n_lines
            failures.update(bad)
            if sink is not None and lines:
                sink.write("\n".join(lines) + "\n")
            if bar is not None and task is not None:
                elapsed = time.perf_counter() - started
                bar.update(task, advance=n_bytes, lines=total, valid=valid,
                           rate=f"{total / elapsed:,.0f}/s" if elapsed > 0 else "")

        chunks = _chunks(handle, spec.policy.max_input_chars, chunk)
        if jobs == 1:
            for items, n_bytes in chunks:
                take(verify_items(verifier, context, items, sink is not None), n_bytes, len(items))
        else:
            _run_pool(chunks, spec, now, jobs, sink is not None, take)
    return BatchSummary(total=total, valid=valid, invalid=total - valid, by_code=dict(failures),
                        seconds=time.perf_counter() - started, jobs=jobs)


def _run_pool(chunks: Iterator[tuple[list[Item], int]], spec: VerifierSpec, now: datetime, jobs: int,
              want_lines: bool, take) -> None:
    """Feed chunks to ``jobs`` spawned workers, at most a few per worker in flight, results in order."""
    pending: deque[tuple[Future[ChunkResult], int, int]] = deque()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                             initargs=(spec, now)) as pool:
        try:
            for items, n_bytes in chunks:
                pending.append((pool.submit(_worker_chunk, items, want_lines), n_bytes, len(items)))
                if len(pending) >= jobs * _IN_FLIGHT_PER_JOB:
                    future, b, n = pending.popleft()
                    take(future.result(), b, n)
            while pending:
                future, b, n = pending.popleft()
                take(future.result(), b, n)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


# ---- the command line ---------------------------------------------------------------------------------

def _json_objects(path: Path) -> list[dict]:
    """A JSON file holding one object, a list of objects, or {"batches"|"rules": [...]}."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        for key in ("batches", "rules"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(x, dict) for x in items):
        raise BatchSetupError(f"{path}: expected a JSON object or a list of objects")
    return items


def spec_from_files(*, certificates: Sequence[str | os.PathLike] = (), trust_lists: Sequence[str | os.PathLike] = (),
                    trust_domain: str | None = None, revocation: Sequence[str | os.PathLike] = (),
                    rules: Sequence[str | os.PathLike] = (), country_of_arrival: str | None = None,
                    policy: Policy | None = None, now: datetime | None = None) -> VerifierSpec:
    """A :class:`VerifierSpec` from files: certificates (DER or PEM), DID trust lists (JSON), revocation
    batches and business rules (JSON, one object or a list). Raises :class:`BatchSetupError`."""
    try:
        return VerifierSpec(
            certificates=tuple(Path(p).read_bytes() for p in certificates),
            trust_lists=tuple(Path(p).read_bytes() for p in trust_lists), trust_domain=trust_domain,
            policy=policy or Policy(),
            revocation_batches=tuple(b for p in revocation for b in _json_objects(Path(p))),
            rules=tuple(r for p in rules for r in _json_objects(Path(p))),
            country_of_arrival=country_of_arrival, now=now)
    except (OSError, ValueError) as exc:
        if isinstance(exc, BatchSetupError):
            raise
        raise BatchSetupError(f"cannot read the verifier's files: {exc}") from exc


def run_batch(input_path: str | os.PathLike, *, certificates: Sequence[str | os.PathLike] = (),
              trust_lists: Sequence[str | os.PathLike] = (), trust_domain: str | None = None,
              revocation: Sequence[str | os.PathLike] = (), rules: Sequence[str | os.PathLike] = (),
              country_of_arrival: str | None = None, jobs: int | None = None, chunk: int = 2000,
              out: str | os.PathLike | None = None, progress: bool | None = None) -> BatchSummary:
    """What ``dho trust verify-batch`` runs: build the description from files, verify, return the counts.
    ``progress`` None shows the bar only when stderr is a terminal."""
    spec = spec_from_files(certificates=certificates, trust_lists=trust_lists, trust_domain=trust_domain,
                           revocation=revocation, rules=rules, country_of_arrival=country_of_arrival)
    show = sys.stderr.isatty() if progress is None else progress
    return verify_file(input_path, spec, jobs=jobs, chunk=chunk, progress=show, out=out)
