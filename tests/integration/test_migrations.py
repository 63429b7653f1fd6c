"""Migrations: the event store DDL is eventsourcing's own, applied once, immutable."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from devtools.localservices import LocalPostgres
from paysource.adapters.postgres.datastore import eventsourcing_env
from paysource.adapters.postgres.migrations import MigrationError, migrate, pending
from paysource.application.eventlog import EventStore
from paysource.config import MIGRATIONS_DIR

MIGRATIONS = MIGRATIONS_DIR


def fresh_database(postgres: LocalPostgres, name: str) -> str:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


def columns(url: str, table: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT column_name, data_type, is_nullable, column_default IS NOT NULL"
            " FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()


def indexes(url: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (table,)
        ).fetchall()
    return {str(row[0]).split(" ON ")[1] for row in rows}


def test_the_event_store_tables_match_what_eventsourcing_itself_creates(
    postgres: LocalPostgres, template_url: str
) -> None:
    library_url = fresh_database(postgres, "library_ddl")
    env = eventsourcing_env(library_url, pool_size=1, max_overflow=0)
    EventStore({**env, "CREATE_TABLE": "yes"}).close()

    for table in ("paysource_events", "paysource_tracking"):
        assert columns(template_url, table) == columns(library_url, table)
        assert indexes(template_url, table) == indexes(library_url, table)


def test_migrate_applies_each_file_once_and_reports_nothing_pending(
    postgres: LocalPostgres,
) -> None:
    url = fresh_database(postgres, "migrate_once")
    assert pending(url, MIGRATIONS) == sorted(p.name for p in MIGRATIONS.glob("*.sql"))

    first = migrate(url, MIGRATIONS)
    second = migrate(url, MIGRATIONS)

    assert first == sorted(p.name for p in MIGRATIONS.glob("*.sql"))
    assert second == []
    assert pending(url, MIGRATIONS) == []


def test_a_migration_changed_after_it_was_applied_is_refused(
    postgres: LocalPostgres, tmp_path: Path
) -> None:
    url = fresh_database(postgres, "migrate_changed")
    (tmp_path / "001_first.sql").write_text("CREATE TABLE one (id int);")
    migrate(url, tmp_path)
    (tmp_path / "001_first.sql").write_text("CREATE TABLE one (id bigint);")

    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(url, tmp_path)


def test_a_failing_migration_leaves_nothing_half_applied(
    postgres: LocalPostgres, tmp_path: Path
) -> None:
    url = fresh_database(postgres, "migrate_failing")
    (tmp_path / "001_broken.sql").write_text("CREATE TABLE two (id int); SELECT no_such_fn();")

    with pytest.raises(psycopg.Error):
        migrate(url, tmp_path)

    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('two')").fetchone() == (None,)
    assert pending(url, tmp_path) == ["001_broken.sql"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE paysource_events SET topic = 'forged'",
        "DELETE FROM paysource_events",
        "TRUNCATE paysource_events",
    ],
)
def test_stored_events_cannot_be_changed_or_removed(database_url: str, statement: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO paysource_events (originator_id, originator_version, topic, state)"
            " VALUES (gen_random_uuid(), 1, 'x', '\\x00')"
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM paysource_events").fetchone() == (1,)
