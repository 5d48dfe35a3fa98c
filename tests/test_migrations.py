"""The schema comes from Alembic migrations, and they match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from dho.db import Base, current_revision, migrate


def test_migrations_match_models(empty_db):
    migrate(empty_db)
    with empty_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_migrate_is_repeatable(empty_db):
    migrate(empty_db)
    first = current_revision(empty_db)
    migrate(empty_db)
    assert current_revision(empty_db) == first is not None


def test_downgrade_to_base_and_up_again(empty_db):
    migrate(empty_db)
    from alembic import command

    from dho.db import alembic_config

    cfg = alembic_config(empty_db.url)
    with empty_db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert current_revision(empty_db) is None
    migrate(empty_db)
    assert current_revision(empty_db) is not None
