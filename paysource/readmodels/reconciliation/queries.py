"""The reads of reconciliation: the ledger's items a file is matched against, the
breaks (the report), and open breaks by kind (the metric)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from paysource.domain.reconciliation import Expected, ItemKey, Source
from paysource.readmodels import sql
from paysource.readmodels.reconciliation.schema import BREAKS
from paysource.readmodels.reports import ReportTooLarge
from paysource.readmodels.sql import Row, Statement, Where

# Line kind → the journal entry that books it, the account line that carries its
# amount (posted, on this side), and the entry column naming the item.
LEDGER_ITEMS: dict[str, tuple[str, str, str, str]] = {
    "capture": ("capture", "acquirer_receivable", "D", "payment_id"),
    "refund": ("refund", "acquirer_receivable", "C", "refund_id"),
    # A dispute's entries are its own events': their `payment_id` is the dispute.
    "dispute": ("dispute", "acquirer_receivable", "C", "payment_id"),
    "dispute_won": ("dispute_won", "acquirer_receivable", "D", "payment_id"),
    "payout": ("payout", "payouts", "C", "payment_id"),
}
SOURCE_KINDS = {
    Source.ACQUIRER: ("capture", "refund", "dispute", "dispute_won"),
    Source.BANK: ("payout",),
}
# Breaks a report may hold: past it, the caller narrows it (a day, a source, a status),
# as with the other reports; a cut report would hide the newest days' breaks.
MAX_REPORT_ROWS = 100_000


def ledger_items(kind: str, days: frozenset[date], keys: list[UUID]) -> Statement:
    """The items of `kind` booked on `days` (UTC) or named by `keys`."""
    entry_kind, account, side, column = LEDGER_ITEMS[kind]
    return Statement(
        f"SELECT %s::text AS kind, e.{column} AS key, e.merchant_id, p.currency,"  # noqa: S608
        " p.amount_minor, (e.occurred_at AT TIME ZONE 'UTC')::date AS day"
        " FROM journal_entries e JOIN postings p ON p.entry_id = e.id"
        " WHERE e.kind = %s AND p.account LIKE %s AND p.side = %s AND p.phase = 'posted'"
        " AND ((e.occurred_at AT TIME ZONE 'UTC')::date = ANY(%s::date[])"
        f" OR e.{column} = ANY(%s::uuid[]))",
        (kind, entry_kind, f"{account}:%", side, sorted(days), keys),
    )


def breaks(*, day: date | None, status: str | None, source: Source | None, limit: int) -> Statement:
    where = Where().equal("b.day", day).equal("b.status", status)
    where.equal("b.source", None if source is None else str(source))
    return Statement(
        f"SELECT {BREAKS.select('b')} FROM {BREAKS.name} b WHERE {where.text}"  # noqa: S608
        " ORDER BY b.day, b.detected_at, b.import_id, b.number LIMIT %s",
        (*where.params, limit),
    )


def open_by_kind() -> Statement:
    return Statement(
        "SELECT source, kind, count(*)::bigint AS count FROM reconciliation_breaks"
        " WHERE status = 'open' GROUP BY source, kind ORDER BY source, kind",
        (),
    )


class ReconciliationQueries:
    """The statements above, run on a cell's synchronous pool; also the ledger side
    of `application.reconciliation.LedgerItems`."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    def expected(
        self, *, source: Source, days: frozenset[date], items: frozenset[ItemKey]
    ) -> list[Expected]:
        found: list[Expected] = []
        for kind in SOURCE_KINDS[source]:
            keys = sorted(key for item_kind, key in items if item_kind == kind)
            rows = sql.run(self.datastore, ledger_items(kind, days, keys))
            found.extend(Expected(**row) for row in rows)
        return found

    def breaks(
        self, *, day: date | None = None, status: str | None = "open", source: Source | None = None
    ) -> list[Row]:
        """Every break asked for, or ReportTooLarge past MAX_REPORT_ROWS: never a part."""
        asked = breaks(day=day, status=status, source=source, limit=MAX_REPORT_ROWS + 1)
        rows = sql.run(self.datastore, asked)
        if len(rows) > MAX_REPORT_ROWS:
            raise ReportTooLarge(
                f"the report has more than {MAX_REPORT_ROWS:,} breaks: narrow it to one "
                "day, one source or one status"
            )
        return rows

    def open_by_kind(self) -> list[Row]:
        return sql.run(self.datastore, open_by_kind())
