"""Job leases and worker membership, held as Postgres advisory locks.

A lock lives as long as its connection, so when a worker dies (even by kill -9) its
jobs are free at once and it stops counting as a member: nothing to expire, no clock
to trust. Each worker holds one *member* lock and one lock per job it runs. Member
locks are keyed by the set of jobs a worker can run, so `members()` counts the workers
that could take over its jobs (a `--no-processor` worker does not share the
pipeline's) and each works out its fair share and gives back what it holds beyond it.

The connection's `application_name` says which host and process holds it, so
`holders()` can tell an operator where every job runs (`paysource jobs`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

JOB_NAMESPACE = zlib.crc32(b"paysource-leases") & 0x7FFFFFFF
APPLICATION_PREFIX = "paysource-worker "
# pg_locks shows the second key of a two-key advisory lock as an unsigned oid.
_UNSIGNED = 4294967295

# pg_locks shows the whole cluster's locks, and an advisory lock is of one database: the
# queries below keep to this one. A worker of another database on the same cluster
# (staging beside production) counted as a member, and each then held half the jobs,
# leaving the rest to no one.


@dataclass(frozen=True, slots=True)
class Holder:
    job: str
    application: str | None  # "paysource-worker <host>:<pid>", None when nobody holds it

    @property
    def where(self) -> str:
        if self.application is None:
            return "-"
        return self.application.removeprefix(APPLICATION_PREFIX)


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Leases:
    """The jobs (and the membership) of this worker in one cell's database."""

    def __init__(self, database_url: str, jobs: Sequence[str] = ()) -> None:
        self._url = database_url
        # Workers that can run the same jobs share them; others are not counted.
        self._group = zlib.crc32("\n".join(["paysource-workers", *sorted(jobs)]).encode())
        self._group &= 0x7FFFFFFF
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._held: set[str] = set()
        self._member = False
        self._lock = threading.Lock()

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    def join(self) -> None:
        """Count as a member (again, after a lost connection)."""
        with self._lock:
            conn = self._connection()
            if not self._member:
                key = secrets.randbelow(2**31)
                conn.execute("SELECT pg_advisory_lock(%s, %s)", (self._group, key))
                self._member = True

    def members(self) -> int:
        """Live workers of this cell that run the same jobs, this one included."""
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT count(*) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND granted AND classid = %s"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())",
                    (self._group,),
                )
                .fetchone()
            )
        return max(1, int(row[0])) if row else 1  # type: ignore[call-overload]  # a count

    def try_acquire(self, name: str) -> bool:
        with self._lock:
            if name in self._held:
                return True
            row = (
                self._connection()
                .execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (JOB_NAMESPACE, name))
                .fetchone()
            )
            if row and row[0]:
                self._held.add(name)
                return True
            return False

    def release(self, name: str) -> None:
        """Give a job back; only once its runner has stopped (else two could run it)."""
        with self._lock:
            if name not in self._held:
                return
            self._held.discard(name)
            with contextlib.suppress(psycopg.Error):
                self._connection().execute(
                    "SELECT pg_advisory_unlock(%s, hashtext(%s))", (JOB_NAMESPACE, name)
                )

    def healthy(self) -> bool:
        """False when the connection (and so every lease) is lost."""
        with self._lock:
            if self._conn is None or self._conn.closed:
                return not self._held
            try:
                self._conn.execute("SELECT 1")
            except psycopg.Error:
                return False
            return True

    def release_all(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()
            self._conn = None
            self._held.clear()
            self._member = False

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._held.clear()
            self._member = False
            self._conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=5,
                application_name=APPLICATION_PREFIX + this_process(),
            )
        return self._conn


def fair_share(jobs: int, members: int) -> int:
    """Jobs one worker should hold: every job runs, and no worker holds more than one
    job above another."""
    return -(-jobs // max(1, members))


def holders(database_url: str, jobs: Sequence[str]) -> list[Holder]:
    """Who holds each of `jobs` now (read from pg_locks and pg_stat_activity)."""
    query = """
        SELECT name, a.application_name
        FROM unnest(%s::text[]) AS name
        LEFT JOIN pg_locks l
          ON l.locktype = 'advisory' AND l.granted AND l.classid = %s
         AND l.objid::bigint = (hashtext(name)::bigint & %s)
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        LEFT JOIN pg_stat_activity a ON a.pid = l.pid
    """
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(query, (list(jobs), JOB_NAMESPACE, _UNSIGNED)).fetchall()
    found = {str(name): (None if app is None else str(app)) for name, app in rows}
    return [Holder(job, found.get(job)) for job in jobs]
