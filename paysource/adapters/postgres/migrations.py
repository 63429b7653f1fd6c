"""Apply the numbered SQL files in `paysource/migrations/`, once each, in order.

Each file runs in its own transaction with its record in `schema_migrations`; an
advisory lock makes concurrent `paysource migrate` runs take turns. A file that
changed after it was applied is refused: migrations are append-only, like events.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x7061_7973  # "pays"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNN_snake_case.sql")
        found.append(Migration(match.group(1), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return found


def migrate(database_url: str, directory: Path) -> list[str]:
    """Apply pending migrations; return the names of those applied now."""
    migrations = discover(directory)
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            done: dict[object, object] = dict(rows)
            for migration in migrations:
                if migration.version in done:
                    _check_unchanged(migration, str(done[migration.version]))
                    continue
                _apply(conn, migration)
                applied_now.append(migration.path.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def pending(database_url: str, directory: Path) -> list[str]:
    """Names of migrations not applied yet (readiness checks)."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=3) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        done = set()
        if exists and exists[0]:
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    return [m.path.name for m in discover(directory) if m.version not in done]


def _check_unchanged(migration: Migration, applied_checksum: str) -> None:
    if migration.checksum != applied_checksum:
        raise MigrationError(
            f"{migration.path.name} changed after it was applied; add a new migration instead"
        )


def _apply(conn: psycopg.Connection[tuple[object, ...]], migration: Migration) -> None:
    log.info("applying migration %s", migration.path.name)
    with conn.transaction():
        conn.execute(migration.sql)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
            (migration.version, migration.path.name, migration.checksum),
        )
