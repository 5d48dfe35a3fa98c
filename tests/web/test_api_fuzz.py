"""Property-based fuzzing of the whole open API from its OpenAPI description: whatever the input
(malformed, oversized, hostile), no endpoint answers with a server error, and every error is a
problem+json document."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from dho.accounts import service as accounts
from dho.accounts.permissions import CLI_OPERATOR
from dho.db import Database
from dho.web.app import create_app


@pytest.fixture
def fuzz_db(sqlite_templates, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Fuzzing runs once, on SQLite (the API tests cover both databases), with the demo trust network
    (its anchor certificate configured) so that the trust endpoints run their real code."""
    from dho.config import get_settings
    from dho.trust import demo as trust_demo

    path = tmp_path / "fuzz.sqlite3"
    shutil.copyfile(sqlite_templates["demo"], path)
    anchor = trust_demo.write_demo_anchor(tmp_path / "anchor.pem")
    monkeypatch.setattr(get_settings(), "trust_anchor_cert", str(anchor))
    db = Database(f"sqlite:///{path}")
    with db.session() as s:
        trust_demo.load(s)
    yield db
    db.dispose()


@pytest.fixture
def api_schema(fuzz_db):  # type: ignore[no-untyped-def]
    demo_db = fuzz_db
    with demo_db.session() as s:
        admin = accounts.find_user(s, "admin@demo.example.org")
        _t, secret = accounts.create_token(s, CLI_OPERATOR, {"name": "fuzz", "scopes": ["read", "write", "admin"]},
                                           admin.id)
    app = create_app(db=demo_db)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    schema.config.headers = {"Authorization": f"Bearer {secret}"}
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):  # type: ignore[no-untyped-def]
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
    if response.status_code >= 400:
        assert response.headers.get("content-type", [""])[0].startswith("application/problem+json") or \
            "problem+json" in str(response.headers.get("content-type")), response.headers


# The atlas takes nested records, money and codes from partners: fuzz its endpoints harder.
atlas_schema = schemathesis.pytest.from_fixture("api_schema").include(path_regex="/atlas/")


@atlas_schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_atlas_no_server_errors(case):  # type: ignore[no-untyped-def]
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
    if response.status_code >= 400:
        assert "problem+json" in str(response.headers.get("content-type")), response.headers
