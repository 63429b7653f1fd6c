"""A balance as of any past moment (the ledger's lines up to then) equals the balance
that replaying the log's events up to that moment through the ledger projection
leaves, for any sequence of payments, captures, cancels and refunds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.localservices import LocalPostgres
from paysource.application.eventlog import EventStore
from paysource.readmodels.maintenance import scratch
from paysource.readmodels.view import ProjectionHandler
from tests.helpers import drain
from tests.properties.test_projection_replay import Run, commands, fresh_container

Balances = dict[str, tuple[int, int, int]]  # currency → (pending, available, paid out)


def replay_until(store: EventStore, handler: ProjectionHandler[Any], moment: datetime) -> None:
    """Feed the handler every event it follows whose time is at most `moment`."""
    after = 0
    while batch := store.select(after=after, limit=50, topics=handler.topics):
        after = batch[-1][0]
        upto = [(n, e) for n, e in batch if e.timestamp <= moment]  # type: ignore[attr-defined]
        if upto:
            handler.handle_batch([e for _, e in upto], Tracking(handler.name, upto[-1][0]))


def replayed(handler: ProjectionHandler[Any], merchant: UUID) -> Balances:
    with handler.view.transaction() as curs:  # its search_path is the scratch schema
        rows = curs.execute(
            "SELECT b.currency, b.credits_pending - b.debits_pending AS pending,"
            " b.credits_posted - b.debits_posted AS available,"
            " coalesce(p.credits_posted - p.debits_posted, 0) AS paid_out"
            " FROM ledger_accounts b LEFT JOIN ledger_accounts p ON p.kind = 'payouts'"
            " AND p.merchant_id = b.merchant_id AND p.currency = b.currency"
            " WHERE b.kind = 'merchant_balance' AND b.merchant_id = %s",
            (merchant,),
        ).fetchall()
    return {r["currency"]: (r["pending"], r["available"], r["paid_out"]) for r in rows}


def as_of(run: Run, merchant: UUID, moment: datetime) -> Balances:
    rows = run.cell.read.ledger.balances_as_of(merchant, moment)
    return {
        r["currency"]: (r["pending_minor"], r["available_minor"], r["paid_out_minor"]) for r in rows
    }


def moments(store: EventStore, topics: Any) -> list[datetime]:
    """The time of every event that moves money, and a moment before the first: the
    moments at which a balance changes (between them, it stays)."""
    found = store.select(after=0, limit=10_000, topics=topics)
    times = sorted(e.timestamp for _, e in found)  # type: ignore[attr-defined]
    return [(times[0] if times else datetime.now(UTC)) - timedelta(seconds=1), *times]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=commands, then=commands, pick=st.integers(0, 10_000))
def test_a_balance_as_of_a_past_moment_equals_a_replay_of_the_events_until_then(
    postgres: LocalPostgres,
    template_url: str,
    redis_url: str,
    first: list[Any],
    then: list[Any],
    pick: int,
) -> None:
    with fresh_container(postgres, redis_url) as container:
        run = Run(container)
        # Two rounds, each processed: the second's captures and refunds find
        # authorized payments, so balances move in most examples.
        for script in (first, then):
            for command in script:
                run.apply(command)
            drain(container, batch_size=17)

        with scratch("ledger", run.cell.read.datastore) as handler:
            times = moments(run.cell.store, handler.topics)
            moment = times[pick % len(times)]
            replay_until(run.cell.store, handler, moment)
            for merchant in run.merchants:
                assert as_of(run, merchant, moment) == replayed(handler, merchant), merchant
