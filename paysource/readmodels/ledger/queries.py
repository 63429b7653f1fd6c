"""The reads of the `ledger` read model: balances, and a merchant's posted lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from paysource.domain import ledger
from paysource.readmodels import sql
from paysource.readmodels.ledger.schema import BALANCES
from paysource.readmodels.sql import Row, Statement, Where


def balances(merchant_id: UUID | None = None) -> Statement:
    """Rows of `merchant_balances`: one merchant's, or (None) every merchant's."""
    where = Where().equal("b.merchant_id", merchant_id)
    return Statement(
        f"SELECT {BALANCES.select('b')} FROM {BALANCES.name} b WHERE {where.text}"  # noqa: S608
        " ORDER BY b.merchant_id, b.currency",
        tuple(where.params),
    )


def balances_as_of(merchant_id: UUID | None, moment: datetime) -> Statement:
    """`merchant_balances` rows as of `moment` (one merchant's, or every merchant's):
    the balance and payouts accounts' lines up to then, summed as the projection sums
    them into the accounts (a release takes back a pending line; see LedgerView). Each
    line carries its event's time, so these are the balances a replay of the events
    up to `moment` leaves (tests/properties/test_balance_as_of.py)."""
    where = Where().add("p.occurred_at <= %s", moment).equal("a.merchant_id", merchant_id)
    signed = "CASE p.side WHEN 'C' THEN p.amount_minor ELSE -p.amount_minor END"
    balance, payouts = "a.kind = 'merchant_balance'", "a.kind = 'payouts'"
    return Statement(
        f"SELECT a.merchant_id, p.currency,"  # noqa: S608  # fixed text, values bound
        f" sum(CASE WHEN {balance} AND p.phase = 'pending' THEN {signed}"
        f" WHEN {balance} AND p.phase = 'release' THEN -({signed}) ELSE 0 END)::bigint"
        " AS pending_minor,"
        f" sum(CASE WHEN {balance} AND p.phase = 'posted' THEN {signed} ELSE 0 END)::bigint"
        " AS available_minor,"
        f" sum(CASE WHEN {payouts} AND p.phase = 'posted' THEN {signed} ELSE 0 END)::bigint"
        " AS paid_out_minor"
        " FROM ledger_accounts a"
        " JOIN postings p ON p.account = a.account AND p.currency = a.currency"
        f" WHERE a.kind IN ('merchant_balance', 'payouts') AND {where.text}"
        " GROUP BY a.merchant_id, p.currency ORDER BY a.merchant_id, p.currency",
        tuple(where.params),
    )


def _sums(account: str, moment: datetime) -> Statement:
    return Statement(
        "SELECT currency, sum(CASE side WHEN 'C' THEN amount_minor"
        " ELSE -amount_minor END) AS balance FROM postings"
        " WHERE account = %s AND phase = 'posted' AND occurred_at < %s"
        " GROUP BY currency",
        (account, moment),
    )


def _lines(account: str, since: datetime, until: datetime, limit: int) -> Statement:
    return Statement(
        "SELECT p.occurred_at, p.currency, p.side, p.amount_minor, e.kind,"
        " e.payment_id, e.refund_id, e.id AS entry_id FROM postings p"
        " JOIN journal_entries e ON e.id = p.entry_id"
        " WHERE p.account = %s AND p.phase = 'posted'"
        " AND p.occurred_at >= %s AND p.occurred_at < %s"
        " ORDER BY p.occurred_at, p.entry_id, p.line LIMIT %s",
        (account, since, until, limit),
    )


class LedgerQueries:
    """The statements above, run on a cell's synchronous pool."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore

    def balances(self, merchant_id: UUID | None = None) -> list[Row]:
        return sql.run(self.datastore, balances(merchant_id))

    def balances_as_of(self, merchant_id: UUID | None, moment: datetime) -> list[Row]:
        return sql.run(self.datastore, balances_as_of(merchant_id, moment))

    def posted_lines(
        self, *, merchant_id: UUID, since: datetime, until: datetime, limit: int
    ) -> tuple[dict[str, int], dict[str, int], list[dict[str, Any]]]:
        """For the merchant's balance account: the posted balance per currency before
        `since` and before `until` (two separate sums, so a statement can reconcile),
        and the first `limit` posted lines in [since, until), oldest first."""
        account = ledger.Account.balance(merchant_id).name
        with self.datastore.transaction() as curs:
            # One snapshot for the three reads, or a batch committing between them
            # would make a correct ledger look as if it did not reconcile.
            curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            opening, closing = (
                {
                    row["currency"]: int(row["balance"])
                    for row in curs.execute(statement.text, statement.params)
                }
                for statement in (_sums(account, since), _sums(account, until))
            )
            found = _lines(account, since, until, limit)
            lines = list(curs.execute(found.text, found.params))
        return opening, closing, lines
