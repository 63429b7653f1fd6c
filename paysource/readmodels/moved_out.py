"""A cell's read models without the merchants that moved to another cell.

A moved merchant's events stay in its old cell's log as history, but its rows must
not: the settlement schedule, hold expiry and dispute expiry of the old cell would act
on them a second time, and staff lists, which merge every cell, would show them
twice. `paysource cells move` deletes them once the merchant has switched cells, and a
rebuild deletes them again before it swaps its fresh tables in (table
`moved_out_merchants` lists whom), so "a read model equals a replay" holds for every
merchant the cell still holds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Identifier

# Read-model tables keyed by merchant (the ledger's postings go with their entries).
MERCHANT_TABLES = (
    "payments",
    "refunds",
    "customers",
    "ledger_payments",
    "transaction_payments",
    "transactions",
    "finance_payments",
    "daily_volume",
    "settlement_payments",
    "settleable_items",
    "settlements",
    "event_index",
    "disputes",
)
LEDGER_TABLES = ("ledger_accounts", "journal_entries", "postings")
# The merchants' share of each platform account, as the ledger projection added it.
_UNPOST = """
UPDATE {accounts} a SET debits_pending = a.debits_pending - s.dp,
    debits_posted = a.debits_posted - s.dc, credits_pending = a.credits_pending - s.cp,
    credits_posted = a.credits_posted - s.cc
FROM (
    SELECT p.account, p.currency,
        sum(CASE WHEN p.side = 'D' AND p.phase = 'pending' THEN p.amount_minor
                 WHEN p.side = 'D' AND p.phase = 'release' THEN -p.amount_minor
                 ELSE 0 END) AS dp,
        sum(CASE WHEN p.side = 'D' AND p.phase = 'posted' THEN p.amount_minor
                 ELSE 0 END) AS dc,
        sum(CASE WHEN p.side = 'C' AND p.phase = 'pending' THEN p.amount_minor
                 WHEN p.side = 'C' AND p.phase = 'release' THEN -p.amount_minor
                 ELSE 0 END) AS cp,
        sum(CASE WHEN p.side = 'C' AND p.phase = 'posted' THEN p.amount_minor
                 ELSE 0 END) AS cc
    FROM {postings} p JOIN {entries} e ON e.id = p.entry_id
    WHERE e.merchant_id = ANY(%(ids)s)
    GROUP BY p.account, p.currency
) s
WHERE a.account = s.account AND a.currency = s.currency AND a.merchant_id IS NULL
"""


def moved_out(curs: Cursor[Any]) -> list[UUID]:
    """The merchants this cell no longer holds (not those still moving: a move may
    abort, and then they stay)."""
    rows = curs.execute(
        "SELECT merchant_id FROM public.moved_out_merchants WHERE state = 'moved'"
    ).fetchall()
    return [row["merchant_id"] if isinstance(row, dict) else row[0] for row in rows]


def forget(
    curs: Cursor[Any],
    merchant_ids: Sequence[UUID],
    *,
    tables: Collection[str] = MERCHANT_TABLES + LEDGER_TABLES,
    schema: str = "public",
) -> None:
    """Delete the merchants' rows from those of `tables` (in `schema`) that hold them."""
    if not merchant_ids:
        return
    ids = {"ids": list(merchant_ids)}
    if all(table in tables for table in LEDGER_TABLES):
        _forget_ledger(curs, ids, schema)
    for table in MERCHANT_TABLES:
        if table in tables:
            curs.execute(
                SQL("DELETE FROM {} WHERE merchant_id = ANY(%(ids)s)").format(
                    Identifier(schema, table)
                ),
                ids,
            )


def forget_moved_out(curs: Cursor[Any], *, tables: Collection[str], schema: str) -> None:
    """What a replay of this cell's log must drop to equal its read models: the rows of
    the merchants moved out (their events stay in the log, their rows went at the move).
    Rebuild applies it before its swap, verify before its comparison."""
    forget(curs, moved_out(curs), tables=tables, schema=schema)


def _forget_ledger(curs: Cursor[Any], ids: dict[str, Any], schema: str) -> None:
    """Take the merchants' share out of the platform's accounts (fees, cash), which
    their new cell counts now, then delete their entries, postings and accounts."""
    accounts, entries, postings = (Identifier(schema, t) for t in LEDGER_TABLES)
    curs.execute(
        SQL(_UNPOST).format(accounts=accounts, postings=postings, entries=entries),
        ids,
    )
    curs.execute(
        SQL(
            "DELETE FROM {} WHERE entry_id IN (SELECT id FROM {} WHERE merchant_id = ANY(%(ids)s))"
        ).format(postings, entries),
        ids,
    )
    curs.execute(SQL("DELETE FROM {} WHERE merchant_id = ANY(%(ids)s)").format(entries), ids)
    curs.execute(SQL("DELETE FROM {} WHERE merchant_id = ANY(%(ids)s)").format(accounts), ids)
