"""Bring a database to a usable state: schema, reference data, shipped maturity frameworks."""

from __future__ import annotations

from typing import Any

from dho.accounts.permissions import CLI_OPERATOR
from dho.db import Database, migrate


def initialise(db: Database, load_reference: bool = True) -> dict[str, Any] | None:
    from dho.atlas import service as atlas
    from dho.indicators import core as indicators
    from dho.maturity import service as maturity
    from dho.reference import service as reference

    migrate(db)
    if not load_reference:
        return None
    with db.session() as session:
        summary = reference.load(session, CLI_OPERATOR).as_dict()
    with db.session() as session:
        summary["frameworks"] = maturity.load_shipped(session, CLI_OPERATOR)
    with db.session() as session:
        session.info["actor"] = CLI_OPERATOR.actor
        summary["atlas_terms"] = atlas.load_terms(session)
    with db.session() as session:
        session.info["actor"] = CLI_OPERATOR.actor
        summary["indicators"] = indicators.load_shipped(session, CLI_OPERATOR)
    return summary
