"""The audit chain: every service write is recorded in the same transaction, and any single
alteration of a row in SQL is detected and named."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from dho.accounts import service as accounts
from dho.accounts.models import Organisation
from dho.accounts.permissions import CLI_OPERATOR
from dho.audit import chain
from dho.audit.hooks import AuditActorMissing
from dho.audit.models import AuditEntry


def _count(db) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def _verify(db) -> chain.VerifyResult:
    with db.session() as s:
        return chain.verify(s)


def test_demo_database_verifies(demo_db):
    result = _verify(demo_db)
    assert result.ok, result.reason
    assert result.checked == result.head_seq > 100


def test_write_records_before_and_after(db):
    with db.session() as s:
        org = accounts.create_organisation(s, CLI_OPERATOR, {"name": "Health Ministry", "kind": "ministry",
                                                              "country_iso3": "SEN"})
        org_id = org.id
    with db.session() as s:
        accounts.update_organisation(s, CLI_OPERATOR, org_id, {"version": 1, "acronym": "MSAS"})
    with db.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.object_type == "organisation")
                            .order_by(AuditEntry.seq)).scalars().all()
    assert [e.action for e in entries] == ["create", "update"]
    assert chain.parse_json(entries[0].after)["name"] == "Health Ministry"
    before, after = chain.parse_json(entries[1].before), chain.parse_json(entries[1].after)
    assert set(before) == set(after) == {"acronym", "version", "updated_at"}
    assert (before["acronym"], before["version"]) == (None, 1)
    assert (after["acronym"], after["version"]) == ("MSAS", 2)
    assert after["updated_at"] > before["updated_at"]
    assert entries[1].actor == "cli"
    assert entries[1].prev_hash == entries[0].hash


def test_failed_write_leaves_no_entry(db):
    before = _count(db)
    with pytest.raises(Exception), db.session() as s:  # noqa: B017
        accounts.create_organisation(s, CLI_OPERATOR, {"name": "X", "kind": "ngo"})
        raise RuntimeError("abort the transaction")
    assert _count(db) == before
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Organisation)).scalar_one() == 0


def test_write_without_actor_is_refused(db):
    with pytest.raises(AuditActorMissing), db.session() as s:
        s.add(Organisation(name="Sneaky", kind="ngo"))
        s.flush()
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Organisation)).scalar_one() == 0


def test_password_hash_is_redacted(db):
    with db.session() as s:
        accounts.create_user(s, CLI_OPERATOR, {"email": "p@example.org", "display_name": "P",
                                               "password": "a-long-password"})
    with db.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.object_type == "user_account")).scalar_one()
    assert chain.parse_json(entry.after)["password_hash"].startswith("[redacted ")
    assert "argon2" not in entry.after


def test_password_change_is_recorded_without_the_secret(db):
    with db.session() as s:
        user = accounts.create_user(s, CLI_OPERATOR, {"email": "q@example.org", "display_name": "Q",
                                                      "password": "a-long-password"})
        user_id = user.id
    with db.session() as s:
        accounts.set_password(s, CLI_OPERATOR, user_id, "another-long-password")
    with db.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.object_type == "user_account")
                            .order_by(AuditEntry.seq)).scalars().all()
    assert [e.action for e in entries] == ["create", "update"]
    before, after = chain.parse_json(entries[1].before), chain.parse_json(entries[1].after)
    assert before["password_hash"] != after["password_hash"]
    assert all(v.startswith("[redacted ") for v in (before["password_hash"], after["password_hash"]))
    assert "argon2" not in (entries[1].before + entries[1].after)


@pytest.mark.parametrize("tamper", [
    "UPDATE audit_entry SET actor = 'mallory' WHERE seq = {n}",
    "UPDATE audit_entry SET after = '{{}}' WHERE seq = {n}",
    "UPDATE audit_entry SET object_id = '999' WHERE seq = {n}",
    "UPDATE audit_entry SET action = 'delete' WHERE seq = {n}",
    "UPDATE audit_entry SET ts = ts WHERE seq = {n}",  # no-op control: must still verify
])
def test_any_single_alteration_is_named(demo_db, tamper):
    n = 42
    with demo_db.engine.begin() as conn:
        conn.execute(text(tamper.format(n=n)))
    result = _verify(demo_db)
    if "ts = ts" in tamper:
        assert result.ok
    else:
        assert not result.ok
        assert result.first_bad_seq == n
        assert "altered" in result.reason


def test_deleted_entry_is_named(demo_db):
    with demo_db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq = 30"))
    result = _verify(demo_db)
    assert not result.ok and result.first_bad_seq == 30
    assert "missing" in result.reason


def test_deleted_newest_entry_is_detected(demo_db):
    with demo_db.session() as s:
        last, _h = chain.head(s)
    with demo_db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq = :seq"), {"seq": last})
    result = _verify(demo_db)
    assert not result.ok and result.first_bad_seq == last


def test_swapped_entries_are_detected(demo_db):
    # swap the content of two consecutive entries, keeping their sequence numbers
    with demo_db.engine.begin() as conn:
        rows = conn.execute(text("SELECT seq, actor, action, object_type, object_id, before, after, prev_hash, hash "
                                 "FROM audit_entry WHERE seq IN (50, 51) ORDER BY seq")).all()
        a, b = rows
        for target, source in ((a.seq, b), (b.seq, a)):
            conn.execute(text("UPDATE audit_entry SET actor=:actor, action=:action, object_type=:ot, object_id=:oi, "
                              "before=:b, after=:af, prev_hash=:p, hash=:h WHERE seq=:seq"),
                         {"actor": source.actor, "action": source.action, "ot": source.object_type,
                          "oi": source.object_id, "b": source.before, "af": source.after, "p": source.prev_hash,
                          "h": source.hash, "seq": target})
    result = _verify(demo_db)
    assert not result.ok and result.first_bad_seq == 50


def test_concurrent_appends_keep_one_chain(db):
    """Two writers at once must queue on the chain head, not fork it."""
    import threading

    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for j in range(5):
                with db.session() as s:
                    accounts.create_organisation(s, CLI_OPERATOR, {"name": f"Org {i}-{j}", "kind": "ngo"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    result = _verify(db)
    assert result.ok, result.reason
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Organisation)).scalar_one() == 20
