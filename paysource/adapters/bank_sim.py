"""A bank rail simulator for payouts: the external rail of test mode.

Payouts are idempotent by key; the simulator can be told to refuse some merchants or
amounts, to time out for some merchants, and to answer slowly. Its records live in
Postgres (schema `bank_sim`) so tests can count payouts per settlement across worker
processes killed with -9.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from paysource.adapters.postgres.datastore import ThreadConnections
from paysource.application.ports import BankTimeout, PayoutResult
from paysource.domain.money import Money

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS bank_sim;
CREATE TABLE IF NOT EXISTS bank_sim.payouts (
    key text PRIMARY KEY,
    merchant_id uuid,
    amount_minor bigint NOT NULL,
    currency char(3) NOT NULL,
    status text NOT NULL CHECK (status IN ('paid', 'rejected', 'cancelled')),
    reference text NOT NULL,
    reason text NOT NULL DEFAULT '',
    requests integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass
class BankBehaviour:
    latency_s: float = 0.0
    refuse_merchants: frozenset[UUID] = frozenset()
    timeout_merchants: frozenset[UUID] = frozenset()
    max_payout_minor: int | None = None


class SimulatedBank:
    def __init__(self, database_url: str, behaviour: BankBehaviour | None = None) -> None:
        self.behaviour = behaviour or BankBehaviour()
        self._connections = ThreadConnections(database_url, schema_sql=_SCHEMA, name="bank_sim")

    def _conn(self) -> psycopg.Connection[Any]:
        return self._connections.get()

    def payout(self, *, idempotency_key: str, merchant_id: UUID, amount: Money) -> PayoutResult:
        behaviour = self.behaviour
        if behaviour.latency_s:
            time.sleep(behaviour.latency_s)
        if merchant_id in behaviour.timeout_merchants:
            raise BankTimeout("the simulated bank did not answer in time")
        reason = ""
        if merchant_id in behaviour.refuse_merchants:
            reason = "account_closed"
        elif (
            behaviour.max_payout_minor is not None
            and amount.amount_minor > behaviour.max_payout_minor
        ):
            reason = "amount_over_limit"
        status = "rejected" if reason else "paid"
        row = self._record(idempotency_key, merchant_id, amount, status, reason)
        return _result(row)

    def settle_unknown(self, *, idempotency_key: str) -> PayoutResult | None:
        row = (
            self._conn()
            .execute(
                "INSERT INTO bank_sim.payouts"
                " (key, amount_minor, currency, status, reference, reason)"
                " VALUES (%s, 0, 'XXX', 'cancelled', '', 'cancelled after timeouts')"
                " ON CONFLICT (key) DO UPDATE SET requests = bank_sim.payouts.requests + 1"
                " RETURNING status, reference, reason",
                (idempotency_key,),
            )
            .fetchone()
        )
        assert row is not None
        return None if row[0] == "cancelled" else _result(row)

    def _record(
        self, key: str, merchant_id: UUID, amount: Money, status: str, reason: str
    ) -> tuple[Any, ...]:
        row = (
            self._conn()
            .execute(
                "INSERT INTO bank_sim.payouts"
                " (key, merchant_id, amount_minor, currency, status, reference, reason)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (key) DO UPDATE SET requests = bank_sim.payouts.requests + 1"
                " RETURNING status, reference, reason",
                (
                    key,
                    merchant_id,
                    amount.amount_minor,
                    amount.currency,
                    status,
                    f"po_{secrets.token_hex(10)}",
                    reason,
                ),
            )
            .fetchone()
        )
        assert row is not None
        return tuple(row)

    def payouts(self, *, key_prefix: str = "") -> list[dict[str, Any]]:
        """Every payout recorded (tests count them per settlement)."""
        cursor = self._conn().cursor(row_factory=psycopg.rows.dict_row)
        return list(
            cursor.execute(
                "SELECT * FROM bank_sim.payouts WHERE key LIKE %s ORDER BY created_at",
                (key_prefix + "%",),
            )
        )


def _result(row: tuple[Any, ...]) -> PayoutResult:
    status, reference, reason = row
    if status == "paid":
        return PayoutResult(accepted=True, reference=reference)
    return PayoutResult(accepted=False, reason=reason or status)
