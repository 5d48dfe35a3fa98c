"""Alembic environment: migrations run on the connection the caller passes (see dho.db.migrate),
or on the URL in the config when Alembic is run by hand."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from dho.db import Base, import_all_models

import_all_models()
target_metadata = Base.metadata
config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.begin() as conn:
        _run(conn)
