"""Writes the table of verification error codes in ``docs/trust-errors.md`` from the registered codes:
``python -m dho.trust.errordoc`` (a test checks that the page lists every code)."""

from __future__ import annotations

import importlib
from pathlib import Path

MODULES = ("hcert", "shc", "qr", "pki", "cms", "anchor", "did", "revocation", "rules", "certlogic", "service",
           "trustlist", "batch", "issue", "conformance")
START, END = "<!-- codes:start -->", "<!-- codes:end -->"


def all_codes():
    from dho.trust.outcome import CODES

    for name in MODULES:
        try:
            importlib.import_module(f"dho.trust.{name}")
        except ImportError:
            continue
    return sorted(CODES.values(), key=lambda c: (c.code.split("_")[0], c.code))


def table() -> str:
    rows = ["| code | stage | English | français |", "|---|---|---|---|"]
    for c in all_codes():
        rows.append(f"| `{c.code}` | {c.stage} | {c.en.replace('|', '/')} | {c.fr.replace('|', '/')} |")
    return "\n".join(rows)


def main() -> None:
    path = Path(__file__).resolve().parents[2] / "docs" / "trust-errors.md"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table()}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
