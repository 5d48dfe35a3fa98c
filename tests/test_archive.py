"""Whole-database archive: the round trip loses nothing, and a bad archive changes nothing."""

from __future__ import annotations

import copy
import io
import json

import pytest
from sqlalchemy import func, select

from dho import archive
from dho.accounts.models import Organisation, User
from dho.accounts.permissions import CLI_OPERATOR, Principal
from dho.audit import chain
from dho.db import migrate
from dho.errors import Forbidden


def _export(db) -> dict:
    with db.session() as s:
        return archive.export(s, CLI_OPERATOR)


def _restore(db, doc) -> dict:
    with db.session() as s:
        return archive.restore(s, CLI_OPERATOR, doc)


def test_round_trip_is_identical(demo_db, empty_db):
    first = _export(demo_db)
    assert first["format"] == "dho-archive" and first["version"] == 1
    migrate(empty_db)
    counts = _restore(empty_db, json.loads(json.dumps(first)))
    assert counts["organisation"] > 50 and counts["audit_entry"] > 100
    second = _export(empty_db)
    assert second["tables"] == first["tables"]
    assert second["sha256"] == first["sha256"]
    with empty_db.session() as s:
        assert chain.verify(s).ok
        # sequences continue after the restored ids (PostgreSQL) and writes still work
        from dho.accounts import service as accounts

        org = accounts.create_organisation(s, CLI_OPERATOR, {"name": "After restore", "kind": "ngo"})
        assert org.id > max(r[0] for r in first["tables"]["organisation"]["rows"])
    with empty_db.session() as s:
        assert chain.verify(s).ok


def _mutations():  # type: ignore[no-untyped-def]
    def tamper_value(doc):  # type: ignore[no-untyped-def]
        doc["tables"]["organisation"]["rows"][0][1] = "Forged name"

    def wrong_version(doc):  # type: ignore[no-untyped-def]
        doc["version"] = 99

    def wrong_format(doc):  # type: ignore[no-untyped-def]
        doc["format"] = "something-else"

    def wrong_schema(doc):  # type: ignore[no-untyped-def]
        doc["schema_revision"] = "0000"

    def unknown_table(doc):  # type: ignore[no-untyped-def]
        doc["tables"]["evil"] = {"columns": [], "rows": []}
        doc["sha256"] = archive.hashlib.sha256(archive.canonical_json(doc["tables"]).encode()).hexdigest()

    def bad_type_rehashed(doc):  # type: ignore[no-untyped-def]
        doc["tables"]["organisation"]["rows"][0][0] = "not-an-integer"
        doc["sha256"] = archive.hashlib.sha256(archive.canonical_json(doc["tables"]).encode()).hexdigest()

    def short_row_rehashed(doc):  # type: ignore[no-untyped-def]
        doc["tables"]["organisation"]["rows"][-1] = doc["tables"]["organisation"]["rows"][-1][:2]
        doc["sha256"] = archive.hashlib.sha256(archive.canonical_json(doc["tables"]).encode()).hexdigest()

    return [
        (tamper_value, "checksum"), (wrong_version, "version 99"), (wrong_format, "not a Digital Health"),
        (wrong_schema, "schema revision"), (unknown_table, "does not know: evil"),
        (bad_type_rehashed, "expected an integer"), (short_row_rehashed, "wrong number of values"),
    ]


@pytest.mark.parametrize(("mutate", "message"), _mutations(), ids=lambda v: getattr(v, "__name__", ""))
def test_bad_archive_is_refused_and_writes_nothing(demo_db, empty_db, mutate, message):
    doc = copy.deepcopy(_export(demo_db))
    mutate(doc)
    migrate(empty_db)
    with pytest.raises(archive.ArchiveError, match=message):
        _restore(empty_db, doc)
    with empty_db.session() as s:
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(Organisation)).scalar_one() == 0


def test_truncated_archive_is_refused(demo_db):
    raw = json.dumps(_export(demo_db)).encode()
    with pytest.raises(archive.ArchiveError, match="not valid JSON"):
        archive.read(io.BytesIO(raw[: len(raw) // 2]), 10**9)
    with pytest.raises(archive.ArchiveError, match="larger than the limit"):
        archive.read(io.BytesIO(raw), 1000)
    with pytest.raises(archive.ArchiveError, match="not UTF-8"):
        archive.read(io.BytesIO(b"\xff\xfe\x00garbage"), 1000)
    with pytest.raises(archive.ArchiveError, match="not a JSON object"):
        archive.read(io.BytesIO(b"[1, 2, 3]"), 1000)


def test_restore_into_a_database_with_data_is_refused(demo_db):
    doc = _export(demo_db)
    with pytest.raises(archive.ArchiveError, match="already holds data"):
        _restore(demo_db, doc)
    assert _export(demo_db)["tables"] == doc["tables"]


def test_only_admins_export(demo_db):
    viewer = Principal(5, "v@example.org", (), None, "session")
    with pytest.raises(Forbidden), demo_db.session() as s:
        archive.export(s, viewer)
