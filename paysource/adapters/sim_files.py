"""What the simulators moved on a day, written as the files the real rails send:
the acquirer's settlement file and the bank's statement (docs/reconciliation.md).

The acquirer settles every capture and every succeeded refund it made that day (UTC)
and every chargeback: a `dispute` line for each dispute opened that day (it took the
disputed amount back), a `dispute_won` line for each won that day (it paid it back). It
charges no fee of its own. The simulator keeps no chargebacks of its own — an admin
stands in for its decisions — so those lines are the disputes as the `disputes` read
model holds them. The bank credits every payout it paid.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import psycopg

from paysource.application import statements
from paysource.domain.reconciliation import Source, StatementLine

_ACQUIRER = """
SELECT kind, payment_id, key, reference, result, amount_minor, currency
  FROM acquirer_sim.operations
 WHERE (created_at AT TIME ZONE 'UTC')::date = %s
   AND (kind = 'capture' OR (kind = 'refund' AND (result ->> 'succeeded')::boolean))
 ORDER BY created_at, key
"""
_DISPUTES = """
SELECT 'dispute' AS kind, id, currency, amount_minor FROM disputes
 WHERE (created_at AT TIME ZONE 'UTC')::date = %(day)s
UNION ALL
SELECT 'dispute_won' AS kind, id, currency, amount_minor FROM disputes
 WHERE status = 'won' AND (updated_at AT TIME ZONE 'UTC')::date = %(day)s
 ORDER BY kind, id
"""
# The acquirer's own reference of a chargeback, and of its reversal.
_CHARGEBACK_PREFIX = {"dispute": "simcb", "dispute_won": "simcbr"}
_BANK = """
SELECT key, reference, currency, amount_minor FROM bank_sim.payouts
 WHERE (created_at AT TIME ZONE 'UTC')::date = %s AND status = 'paid'
 ORDER BY created_at, key
"""


def acquirer_lines(database_url: str, day: date) -> list[StatementLine]:
    rows = _rows(database_url, "acquirer_sim.operations", _ACQUIRER, day)
    lines = []
    for kind, payment_id, key, reference, result, amount_minor, currency in rows:
        if kind == "capture":
            item, ref = UUID(payment_id), reference
        else:  # we send `<refund id>:refund` as the refund's key: our reference
            item, ref = UUID(key.partition(":")[0]), result["refund_reference"]
        lines.append(StatementLine(kind, item, ref, currency, amount_minor, 0, day))
    return lines + _chargeback_lines(database_url, day)


def _chargeback_lines(database_url: str, day: date) -> list[StatementLine]:
    # A won dispute's `updated_at` is when it was won: nothing changes a dispute after.
    rows = _rows(database_url, "disputes", _DISPUTES, day, {"day": day})
    lines = []
    for kind, dispute, currency, amount in rows:
        reference = f"{_CHARGEBACK_PREFIX[kind]}_{dispute.hex[:24]}"
        lines.append(StatementLine(kind, dispute, reference, currency.strip(), amount, 0, day))
    return lines


def bank_lines(database_url: str, day: date) -> list[StatementLine]:
    rows = _rows(database_url, "bank_sim.payouts", _BANK, day)
    # We send `<settlement id>:payout` as the payout's key: the remittance reference.
    return [
        StatementLine("payout", UUID(key.partition(":")[0]), reference, currency, amount, 0, day)
        for key, reference, currency, amount in rows
    ]


def acquirer_file(database_url: str, day: date) -> str:
    lines = acquirer_lines(database_url, day)
    return statements.to_csv(Source.ACQUIRER, map(statements.acquirer_row, lines))


def bank_statement(database_url: str, day: date) -> str:
    lines = bank_lines(database_url, day)
    return statements.to_csv(Source.BANK, map(statements.bank_row, lines))


def _rows(
    database_url: str, table: str, query: str, day: date, params: dict[str, date] | None = None
) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
            return []  # the simulator has moved nothing yet
        return list(conn.execute(query, params or (day,)).fetchall())
