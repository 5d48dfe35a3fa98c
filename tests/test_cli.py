"""The dho command: each command does its job, and errors are one clear line with exit code 1."""

from __future__ import annotations

import itertools
import json

from sqlalchemy import text
from typer.testing import CliRunner

from dho.cli import app

runner = CliRunner()


def run(*args: str, env: dict | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def test_init_demo_and_verify(empty_db):
    url = empty_db.url
    r = run("init", "--database", url)
    assert r.exit_code == 0, r.output
    assert "Reference data: loaded" in r.output
    r = run("init", "--database", url)
    assert "already up to date" in r.output
    r = run("demo", "--no-serve", "--database", url)
    assert r.exit_code == 0, r.output
    assert "admin@demo.example.org" in r.output and "demo-password" in r.output
    r = run("demo", "--no-serve", "--database", url)
    assert "already present" in r.output
    r = run("audit", "verify", "--database", url)
    assert r.exit_code == 0 and "intact" in r.output
    with empty_db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET object_id = 'x' WHERE seq = 77"))
    r = run("audit", "verify", "--database", url)
    assert r.exit_code == 1
    assert "broken at entry 77" in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1


def test_users_and_tokens(db):
    url = db.url
    r = run("user", "add", "ana@example.org", "--name", "Ana Quispe", "--password", "correct-horse-battery",
            "--role", "country_focal_point", "--country", "PER", "--database", url)
    assert r.exit_code == 0, r.output
    r = run("user", "list", "--database", url)
    assert "ana@example.org" in r.output and "country_focal_point:PER" in r.output
    r = run("token", "create", "ana@example.org", "--name", "sync", "--scope", "read", "--scope", "write",
            "--days", "30", "--database", url)
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip().splitlines()[-1]
    assert secret.startswith("dho_")
    r = run("token", "list", "ana@example.org", "--database", url)
    assert "sync" in r.output and secret.split("_")[2] not in r.output
    with db.session() as s:
        token_id = s.execute(text("SELECT id FROM api_token WHERE name = 'sync'")).scalar_one()
        assert secret.split("_")[2] not in str(s.execute(text("SELECT secret_hash FROM api_token")).all())
    r = run("token", "revoke", str(token_id), "--database", url)
    assert r.exit_code == 0, r.output
    with db.session() as s:
        assert s.execute(text("SELECT revoked_at FROM api_token")).scalar_one() is not None
    r = run("user", "disable", "ana@example.org", "--database", url)
    assert r.exit_code == 0


def test_errors_are_one_line(db):
    url = db.url
    cases = [
        ("user", "add", "not-an-email", "--name", "X", "--password", "long-enough-pw", "--database", url),
        ("user", "add", "x@example.org", "--name", "X", "--password", "short", "--database", url),
        ("user", "add", "x@example.org", "--name", "X", "--password", "long-enough-pw", "--role", "regional",
         "--database", url),
        ("user", "grant", "nobody@example.org", "viewer", "--database", url),
        ("token", "create", "nobody@example.org", "--database", url),
        ("token", "revoke", "999", "--database", url),
        ("audit", "export", "out.txt", "--format", "xml", "--database", url),
    ]
    for args in cases:
        r = run(*args)
        assert r.exit_code == 1, (args, r.output)
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, r.output)
    # the failed "regional without region" attempt wrote nothing, not even the user
    r = run("user", "list", "--database", url)
    assert "x@example.org" not in r.output


def test_acting_as_a_user_applies_their_rights(demo_db):
    r = run("reference", "load", "--as", "viewer@demo.example.org", "--database", demo_db.url)
    assert r.exit_code == 1 and "error:" in r.output


def test_export_and_import(demo_db, empty_db, tmp_path):
    archive_file = tmp_path / "all.json"
    r = run("export", str(archive_file), "--database", demo_db.url)
    assert r.exit_code == 0, r.output
    r = run("import", str(archive_file), "--database", empty_db.url)
    assert r.exit_code == 0, r.output
    again = tmp_path / "again.json"
    run("export", str(again), "--database", empty_db.url)
    assert json.loads(again.read_text())["tables"] == json.loads(archive_file.read_text())["tables"]
    # a second import into the now non-empty database is refused in one line
    r = run("import", str(archive_file), "--database", empty_db.url)
    assert r.exit_code == 1 and "already holds data" in r.output
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(archive_file.read_bytes()[:5000])
    r = run("import", str(truncated), "--database", empty_db.url)
    assert r.exit_code == 1 and "not valid JSON" in r.output
    r = run("import", str(tmp_path / "missing.json"), "--database", empty_db.url)
    assert r.exit_code == 1 and "error:" in r.output


def test_audit_export_has_the_chain(demo_db, tmp_path):
    out = tmp_path / "audit.jsonl"
    r = run("audit", "export", str(out), "--database", demo_db.url)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["seq"] == 1 and rows[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    r = run("audit", "head", "--database", demo_db.url)
    assert r.stdout.split()[0] == str(rows[-1]["seq"]) and r.stdout.split()[1] == rows[-1]["hash"]
