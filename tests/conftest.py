"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL: each test gets a fresh
database cloned from a template (migrated, reference data loaded; optionally the demo data set).

PostgreSQL: DHO_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) must reach a
server that lets us create databases. Without one the PostgreSQL cases skip with the reason, except
under CI=true, where they fail."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("DHO_COOKIE_SECURE", "true")
os.environ.setdefault("DHO_SECRET_KEY", "test-secret-key-not-for-production")

from dho.db import Database, import_all_models

import_all_models()

PG_URL = os.environ.get("DHO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
RUN_ID = uuid.uuid4().hex[:8]


def _prepare(db: Database, demo: bool) -> None:
    from dho import demo as demo_data
    from dho.bootstrap import initialise

    initialise(db)
    if demo:
        with db.session() as session:
            demo_data.load(session)


# ---------------------------------------------------------------- SQLite


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("templates")
    out = {}
    for name, demo in (("base", False), ("demo", True)):
        path = base / f"{name}.sqlite3"
        db = Database(f"sqlite:///{path}")
        _prepare(db, demo)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()
        out[name] = path
    return out


# ---------------------------------------------------------------- PostgreSQL


class PgServer:
    def __init__(self, url: str):
        import psycopg

        self.url = url
        self.admin = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                                     connect_timeout=5)
        self.created: list[str] = []

    def db_url(self, name: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def create(self, name: str, template: str | None = None) -> str:
        if template:
            self.admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            self.admin.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.db_url(name)

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(self.created):
            self.drop(name)
        self.admin.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | None]:
    try:
        server = PgServer(PG_URL)
    except Exception as exc:  # the reason is shown in the skip or failure message
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but {PG_URL} is unreachable: {exc}")
        server = None
        pytest.pg_unavailable_reason = f"PostgreSQL not reachable at {PG_URL}: {exc}"  # type: ignore[attr-defined]
    yield server
    if server is not None:
        server.close()


@pytest.fixture(scope="session")
def pg_templates(pg_server: PgServer | None) -> dict[str, str] | None:
    if pg_server is None:
        return None
    out = {}
    for name, demo in (("base", False), ("demo", True)):
        db_name = f"dho_tpl_{name}_{RUN_ID}"
        db = Database(pg_server.create(db_name))
        _prepare(db, demo)
        db.dispose()
        out[name] = db_name
    return out


# ---------------------------------------------------------------- per-test databases


def _pg_or_skip(request: pytest.FixtureRequest) -> PgServer:
    server: PgServer | None = request.getfixturevalue("pg_server")
    if server is None:
        pytest.skip(getattr(pytest, "pg_unavailable_reason", "PostgreSQL not reachable"))
    return server


def _fresh(request: pytest.FixtureRequest, backend: str, template: str, tmp_path: Path) -> Iterator[Database]:
    if backend == "sqlite":
        templates = request.getfixturevalue("sqlite_templates")
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(templates[template], path)
        db = Database(f"sqlite:///{path}")
        yield db
        db.dispose()
        return
    server = _pg_or_skip(request)
    templates = request.getfixturevalue("pg_templates")
    name = f"dho_t_{RUN_ID}_{uuid.uuid4().hex[:10]}"
    db = Database(server.create(name, templates[template]))
    yield db
    db.dispose()
    server.drop(name)


BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="pg", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Database]:
    """A fresh database with the schema and the reference data."""
    yield from _fresh(request, backend, "base", tmp_path)


@pytest.fixture
def demo_db(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Database]:
    """A fresh database with the reference data and the demo data set."""
    yield from _fresh(request, backend, "demo", tmp_path)


@pytest.fixture
def empty_db(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Database]:
    """A database with no schema at all."""
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield db
        db.dispose()
        return
    server = _pg_or_skip(request)
    name = f"dho_e_{RUN_ID}_{uuid.uuid4().hex[:10]}"
    db = Database(server.create(name))
    yield db
    db.dispose()
    server.drop(name)


# ---------------------------------------------------------------- web


DEMO_PASSWORD = "demo-password"


@pytest.fixture
def client(demo_db: Database):
    from fastapi.testclient import TestClient

    from dho.web.app import create_app

    app = create_app(db=demo_db)
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def login(client, email: str, password: str = DEMO_PASSWORD):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    token = csrf_from(page.text)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"},
                       follow_redirects=False)


def demo_email(local: str) -> str:
    return f"{local}@demo.example.org"
