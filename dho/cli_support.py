"""What every ``dho`` command shares: the consoles, the common options, one-line errors and the
unit of work (a session with the acting principal). Domain command modules import from here, not
from ``dho.cli``, so that ``python -m dho.cli`` has no import cycle."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from dho.config import get_settings
from dho.db import Database, import_all_models
from dho.errors import DomainError

out = Console()
err = Console(stderr=True)

DatabaseOpt = Annotated[str | None, typer.Option("--database", envvar="DHO_DATABASE_URL",
                                                 help="Database URL (default: SQLite in the user data dir)")]
AsOpt = Annotated[str | None, typer.Option("--as", help="Act as this user (e-mail) instead of the operator")]


def _db(url: str | None) -> Database:
    import_all_models()
    return Database(url or get_settings().database_url)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def errors_to_lines() -> Iterator[None]:
    try:
        yield
    except DomainError as exc:
        details = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        fail(exc.detail + (f" ({details})" if details else ""))
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "))


@contextmanager
def unit(url: str | None, as_user: str | None = None) -> Iterator[tuple[Session, object]]:
    from dho.accounts.service import cli_principal

    db = _db(url)
    try:
        with errors_to_lines(), db.session() as session:
            yield session, cli_principal(session, as_user)
    finally:
        db.dispose()
