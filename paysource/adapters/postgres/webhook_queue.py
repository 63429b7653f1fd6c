"""The delivery queue in Postgres: claim due deliveries, record attempts, read them back.

Claiming takes a lease (`locked_until`): any number of delivery lanes in any number
of processes take disjoint deliveries, and a lane killed mid-attempt leaves its
deliveries claimable again when the lease runs out. Claims take turns (a
transaction-level advisory lock, held for the few milliseconds of the claim), so the
limits hold across every process:

- one attempt in flight per endpoint (a live lease), and at most `per_merchant` per
  merchant: a slow or tarpitting receiver holds one lane, a merchant a few, never all;
- per-object order: a delivery is due only when no older version of the same object
  is still pending for the same endpoint;
- a resend asked for by hand (`resend_at`) is due at once, whatever the delivery's
  status or order, within the same limits.

Claims go round the endpoints that have pending deliveries, taking the oldest due
delivery of the next one that may have an attempt: each endpoint with work gets its
turn whatever the others' backlogs, and a claim reads little more than the endpoints
it walks past (never a busy endpoint's backlog). Times are the database's (`now()`),
so every worker agrees on them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from paysource.application.ports import AttemptResult
from paysource.application.webhooks.queue import (
    DEFAULT_PER_MERCHANT,
    MAX_ATTEMPTS_SHOWN,
    MAX_PAGE,
    Claimed,
    Health,
    Verdict,
)

_BEFORE_ALL = UUID(int=0)
_AFTER_ALL = UUID(int=(1 << 128) - 1)
_CLAIM_LOCK = "SELECT pg_advisory_xact_lock(hashtext('webhook-delivery-claims'))"
_CLAIMED = (
    "d.id, d.event_id, d.endpoint_id, d.merchant_id, d.event_type, d.status, d.attempts,"
    " d.enqueued_at, d.resend_at, e.url, e.secret_generation, e.secret_rotated_at,"
    " ev.payload, d.object_id, d.object_version"
)
# One delivery, under _CLAIM_LOCK: a resend asked for, else the next due delivery of
# the first endpoint in (%(after)s, %(until)s] (in id order) that has one, has no attempt in
# flight and whose merchant has fewer than `per_merchant`. Lanes go round the
# endpoints so (the caller passes the last endpoint served): each endpoint with work
# gets its turn, and a claim reads only the endpoints it walks past.
_CLAIM_NEXT = f"""
WITH RECURSIVE walk (endpoint_id) AS (
    (SELECT endpoint_id FROM webhook_deliveries
     WHERE status = 'pending' AND endpoint_id > %(after)s
     ORDER BY endpoint_id LIMIT 1)
    UNION ALL
    SELECT (SELECT d.endpoint_id FROM webhook_deliveries d
            WHERE d.status = 'pending' AND d.endpoint_id > w.endpoint_id
            ORDER BY d.endpoint_id LIMIT 1)
    FROM walk w WHERE w.endpoint_id IS NOT NULL AND w.endpoint_id < %(until)s
),
leased AS MATERIALIZED (
    SELECT endpoint_id, merchant_id FROM webhook_deliveries
    WHERE locked_until IS NOT NULL AND locked_until > now()
),
full_merchants AS MATERIALIZED (
    SELECT merchant_id FROM leased GROUP BY merchant_id
    HAVING count(*) >= %(per_merchant)s
),
manual AS (
    SELECT d.id FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.status <> 'deleted'
    WHERE d.resend_at IS NOT NULL AND d.status <> 'canceled'
      AND NOT EXISTS (SELECT 1 FROM leased l WHERE l.endpoint_id = d.endpoint_id)
      AND NOT EXISTS (SELECT 1 FROM full_merchants f WHERE f.merchant_id = d.merchant_id)
    ORDER BY d.resend_at, d.seq
    LIMIT 1
),
automatic AS (
    SELECT due.id FROM walk w
    CROSS JOIN LATERAL (  -- LIMIT: not a hash join, which would walk every endpoint
        SELECT e.merchant_id FROM webhook_endpoints e
        WHERE e.id = w.endpoint_id AND e.status = 'enabled'
        LIMIT 1
    ) e
    CROSS JOIN LATERAL (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.endpoint_id = w.endpoint_id AND d.status = 'pending'
          AND d.next_attempt_at <= now()
          AND NOT EXISTS (
              SELECT 1 FROM webhook_deliveries older
              WHERE older.endpoint_id = d.endpoint_id AND older.object_id = d.object_id
                AND older.status = 'pending' AND older.object_version < d.object_version)
        ORDER BY d.next_attempt_at, d.seq
        LIMIT 1
    ) due
    WHERE w.endpoint_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM leased l WHERE l.endpoint_id = w.endpoint_id)
      AND NOT EXISTS (SELECT 1 FROM full_merchants f WHERE f.merchant_id = e.merchant_id)
    LIMIT 1
),
chosen AS (
    (SELECT id FROM manual) UNION ALL (SELECT id FROM automatic) LIMIT 1
)
UPDATE webhook_deliveries d
SET locked_until = now() + make_interval(secs => %(lease_s)s), locked_by = %(worker)s
FROM chosen, webhook_endpoints e, webhook_events ev
WHERE d.id = chosen.id AND e.id = d.endpoint_id AND ev.id = d.event_id
  AND (d.locked_until IS NULL OR d.locked_until <= now())
  AND (d.status = 'pending' OR (d.resend_at IS NOT NULL AND d.status <> 'canceled'))
RETURNING {_CLAIMED}
"""  # noqa: S608  # fixed text


class DeliveryQueue:
    """The `DeliveryQueue` port (paysource.application.ports) in Postgres."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self._after = _BEFORE_ALL  # the endpoint served last: claims go round from there

    def now(self) -> datetime:
        with self.datastore.cursor() as curs:
            row = curs.execute("SELECT now() AS now").fetchone()
        assert row is not None
        return row["now"]  # type: ignore[no-any-return]

    def claim(
        self,
        *,
        worker: str,
        limit: int,
        lease_s: float,
        per_merchant: int = DEFAULT_PER_MERCHANT,
    ) -> list[Claimed]:
        """Lease up to `limit` due deliveries, each of another endpoint (see the module's
        docstring for which are due)."""
        params = {"lease_s": lease_s, "worker": worker, "per_merchant": per_merchant}
        claimed: list[Claimed] = []
        with self.datastore.transaction(commit=True) as curs:
            # Claims take turns, so the limits count every lease taken before this one.
            curs.execute(_CLAIM_LOCK)
            for _ in range(limit):
                row = None
                # From the last endpoint served to the end, then from the start to it.
                for after, until in ((self._after, _AFTER_ALL), (_BEFORE_ALL, self._after)):
                    bounds = {"after": after, "until": until}
                    row = curs.execute(_CLAIM_NEXT, {**params, **bounds}, prepare=True).fetchone()
                    if row is not None or self._after == _BEFORE_ALL:
                        break
                if row is None:
                    break
                claimed.append(Claimed.from_row(row))
                self._after = row["endpoint_id"]
        return claimed

    def request_resend(self, endpoint_id: UUID, delivery_id: UUID) -> bool:
        """Make the delivery due now for one manual attempt, whatever its status and
        order; False if there is no such delivery or it was canceled. Requests made
        before the attempt are one request."""
        with self.datastore.transaction(commit=True) as curs:
            row = curs.execute(
                "UPDATE webhook_deliveries SET resend_at = coalesce(resend_at, now())"
                " WHERE id = %s AND endpoint_id = %s AND status <> 'canceled' RETURNING 1",
                (delivery_id, endpoint_id),
            ).fetchone()
        return row is not None

    def release(self, delivery_ids: list[UUID], *, worker: str) -> None:
        """Give back leases of deliveries not attempted (the worker is stopping)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "UPDATE webhook_deliveries SET locked_until = NULL, locked_by = NULL"
                " WHERE id = ANY(%s) AND locked_by = %s",
                (delivery_ids, worker),
            )

    def record(
        self,
        claimed: Claimed,
        result: AttemptResult,
        verdict: Verdict,
        *,
        worker: str,
        trigger: str,
    ) -> bool:
        """Store the attempt and the delivery's new state; False if the lease was lost
        meanwhile (the attempt is stored anyway: it happened)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempted_at, trigger, succeeded,"
                " status_code, latency_ms, error) VALUES (%s, now(), %s, %s, %s, %s, %s)",
                (
                    claimed.id,
                    trigger,
                    result.succeeded,
                    result.status_code,
                    result.latency_ms,
                    None if result.error is None else result.summary,
                ),
            )
            retry_s = verdict.retry_in.total_seconds() if verdict.retry_in is not None else 0.0
            row = curs.execute(
                "UPDATE webhook_deliveries SET status = %(status)s, attempts = attempts + 1,"
                " last_attempt_at = now(),"
                " next_attempt_at = now() + make_interval(secs => %(retry_s)s),"
                " completed_at = CASE WHEN %(status)s = 'pending' THEN NULL"
                "   ELSE coalesce(completed_at, now()) END,"
                " locked_until = NULL, locked_by = NULL,"
                # The resend this attempt answered; one asked for meanwhile stays.
                " resend_at = CASE WHEN resend_at = %(resend_at)s THEN NULL ELSE resend_at END"
                " WHERE id = %(id)s AND locked_by = %(worker)s RETURNING 1",
                {
                    "status": verdict.status,
                    "retry_s": retry_s,
                    "id": claimed.id,
                    "worker": worker,
                    "resend_at": claimed.resend_at,
                },
            ).fetchone()
        return row is not None

    def record_health(
        self, endpoint_id: UUID, *, succeeded: bool, disable_after: timedelta
    ) -> Health:
        """Track how long the endpoint has been failing (reset by any success)."""
        if succeeded:
            query = (
                "UPDATE webhook_endpoints SET failing_since = NULL, consecutive_failures = 0,"
                " last_success_at = now() WHERE id = %(id)s"
                " RETURNING failing_since, consecutive_failures, status"
            )
        else:
            query = (
                "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now()),"
                " consecutive_failures = consecutive_failures + 1, last_failure_at = now()"
                " WHERE id = %(id)s RETURNING failing_since, consecutive_failures, status,"
                " failing_since <= now() - make_interval(secs => %(after_s)s) AS long_failing"
            )
        params = {"id": endpoint_id, "after_s": disable_after.total_seconds()}
        with self.datastore.transaction(commit=True) as curs:
            row = curs.execute(query, params).fetchone()
        assert row is not None, "a delivery's endpoint exists"
        return Health(
            row["failing_since"],
            row["consecutive_failures"],
            row["status"] == "enabled",
            bool(row.get("long_failing")),
        )

    # Reads (the API) ------------------------------------------------------------------

    def backlog(self) -> tuple[int, float]:
        """Pending deliveries, and the age in seconds of the oldest one (for /metrics)."""
        with self.datastore.cursor() as curs:
            row = curs.execute(
                "SELECT count(*) AS n,"
                " coalesce(extract(epoch FROM now() - min(enqueued_at)), 0) AS age"
                " FROM webhook_deliveries WHERE status = 'pending'"
            ).fetchone()
        return (int(row["n"]), float(row["age"])) if row else (0, 0.0)

    def count_endpoints(self, merchant_id: UUID) -> int:
        with self.datastore.cursor() as curs:
            row = curs.execute(
                "SELECT count(*) AS n FROM webhook_endpoints"
                " WHERE merchant_id = %s AND status <> 'deleted'",
                (merchant_id,),
            ).fetchone()
        return int(row["n"]) if row else 0

    def endpoint_row(self, endpoint_id: UUID) -> dict[str, Any] | None:
        with self.datastore.cursor() as curs:
            return curs.execute(
                "SELECT * FROM webhook_endpoints WHERE id = %s", (endpoint_id,)
            ).fetchone()

    def list_endpoints(self, merchant_id: UUID, *, limit: int) -> list[dict[str, Any]]:
        with self.datastore.cursor() as curs:
            return curs.execute(
                "SELECT * FROM webhook_endpoints WHERE merchant_id = %s AND status <> 'deleted'"
                " ORDER BY created_at DESC, id DESC LIMIT %s",
                (merchant_id, max(1, min(limit, MAX_PAGE))),
            ).fetchall()

    def list_deliveries(
        self,
        endpoint_id: UUID,
        *,
        limit: int,
        starting_after: UUID | None = None,
        status: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first, keyset-paginated by `seq`; a cursor of another endpoint finds
        nothing (KeyError), which the API answers with 404."""
        where: list[str] = ["endpoint_id = %s"]
        params: list[Any] = [endpoint_id]
        if status is not None:
            where.append("status = %s")
            params.append(status)
        if starting_after is not None:
            where.append("seq < %s")
            params.append(self._seq_of(endpoint_id, starting_after))
        limit = max(1, min(limit, MAX_PAGE))
        query = (
            f"SELECT * FROM webhook_deliveries WHERE {' AND '.join(where)}"  # noqa: S608
            " ORDER BY seq DESC LIMIT %s"
        )
        with self.datastore.cursor() as curs:
            rows = curs.execute(query, (*params, limit + 1)).fetchall()
        return list(rows[:limit]), len(rows) > limit

    def _seq_of(self, endpoint_id: UUID, delivery_id: UUID) -> int:
        row = self.delivery(endpoint_id, delivery_id)
        if row is None:
            raise KeyError(delivery_id)
        return int(row["seq"])

    def delivery(self, endpoint_id: UUID, delivery_id: UUID) -> dict[str, Any] | None:
        with self.datastore.cursor() as curs:
            return curs.execute(
                "SELECT * FROM webhook_deliveries WHERE id = %s AND endpoint_id = %s",
                (delivery_id, endpoint_id),
            ).fetchone()

    def attempts(self, delivery_ids: list[UUID]) -> dict[UUID, list[dict[str, Any]]]:
        """The latest attempts of each delivery, newest first (at most 50 each)."""
        found: dict[UUID, list[dict[str, Any]]] = {i: [] for i in delivery_ids}
        with self.datastore.cursor() as curs:
            rows = curs.execute(
                "SELECT * FROM (SELECT a.*, row_number() OVER"
                " (PARTITION BY delivery_id ORDER BY id DESC) AS n"
                " FROM webhook_attempts a WHERE delivery_id = ANY(%s)) t"
                " WHERE n <= %s ORDER BY id DESC",
                (delivery_ids, MAX_ATTEMPTS_SHOWN),
            ).fetchall()
        for row in rows:
            found[row["delivery_id"]].append(row)
        return found
