"""One look at a cell's database for `paysource cells status`: is it up, is it the
primary, how long is its log, and how far behind are its hot standbys.

Each look opens its own short-lived connection with a short connect timeout, so one
cell that is down shows as down instead of stalling the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from paysource.adapters.postgres.replicas import lsn_value

CONNECT_TIMEOUT_S = 3


@dataclass(frozen=True)
class Probe:
    up: bool
    role: str = "-"  # "primary" or "standby"
    log_head: int | None = None  # the newest event's position
    wal_lsn: int | None = None  # written (primary) or replayed (standby), as a number
    error: str = ""


def probe(url: str) -> Probe:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(),"
                " CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text"
                "      ELSE pg_current_wal_lsn()::text END,"
                " (SELECT coalesce(max(notification_id), 0) FROM paysource_events)"
            ).fetchone()
    except psycopg.Error as error:
        # The first line only: a connection error's detail can name the host and user.
        return Probe(up=False, error=str(error).splitlines()[0] if str(error) else "error")
    assert row is not None
    standby, lsn, head = row
    return Probe(
        up=True,
        role="standby" if standby else "primary",
        log_head=int(head),
        wal_lsn=lsn_value(str(lsn)) if lsn else None,
    )


def lag_bytes(primary: Probe, standby: Probe) -> int | None:
    """How many bytes of WAL the standby has still to replay (None if either is down)."""
    if primary.wal_lsn is None or standby.wal_lsn is None:
        return None
    return max(0, primary.wal_lsn - standby.wal_lsn)
