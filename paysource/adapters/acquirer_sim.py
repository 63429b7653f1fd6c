"""A card acquirer simulator: the external rail of test mode.

It behaves like an acquirer's API: every operation carries an idempotency key, and
a repeated key returns the first answer without doing anything again. The card's
test token decides the answer:

    tok_visa, tok_mastercard   approved
    tok_decline                declined: card_declined
    tok_insufficient_funds     declined: insufficient_funds
    tok_timeout                never answers in time (AcquirerTimeout)
    tok_refund_fail            approved, but its refunds fail: refund_declined
    tok_auth_lost              authorized, but the answer is lost (AcquirerTimeout)
    tok_refund_lost            approved; its refunds are made, but the answers are lost
    tok_capture_refused        approved, but its captures are refused (a lapsed hold)
    tok_disputed               approved; once captured, the cardholder disputes it in full
                               (reason `fraudulent`): `dispute_notices` answers a notice
    tok_capture_refused_once   approved; its first capture key is refused (every time
                               it is asked), a capture under another key succeeds: an
                               operator's `resolve-relay --retry` captures it

An operation cancelled after timeouts (`resolve_*` found nothing) is refused if it
arrives late, as an acquirer does when asked to cancel an idempotency key.

Operations are kept in Postgres (schema `acquirer_sim`) when a database URL is given,
so tests can count them across worker processes, even ones killed with -9; or in
memory for unit tests.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from paysource.adapters.batching import Batched
from paysource.adapters.postgres.datastore import ThreadConnections
from paysource.application.disputes import DisputeNotice
from paysource.application.ports import (
    AcquirerRefused,
    AcquirerTimeout,
    AuthorizationResult,
    RefundResult,
)
from paysource.domain.card import CardDetails
from paysource.domain.dispute import DisputeReason
from paysource.domain.money import Money

DECLINES = {"tok_decline": "card_declined", "tok_insufficient_funds": "insufficient_funds"}
# Test tokens, not secrets.
TIMEOUT_TOKEN = "tok_timeout"  # noqa: S105
REFUND_FAIL_TOKEN = "tok_refund_fail"  # noqa: S105
AUTH_LOST_TOKEN = "tok_auth_lost"  # noqa: S105
REFUND_LOST_TOKEN = "tok_refund_lost"  # noqa: S105
CAPTURE_REFUSED_TOKEN = "tok_capture_refused"  # noqa: S105
DISPUTED_TOKEN = "tok_disputed"  # noqa: S105
CAPTURE_REFUSED_ONCE_TOKEN = "tok_capture_refused_once"  # noqa: S105
CANCELLED = {"cancelled": True}


@dataclass(frozen=True, slots=True)
class Operation:
    key: str
    kind: str
    payment_id: str
    reference: str
    amount_minor: int
    result: dict[str, Any]
    requests: int = 1
    currency: str = ""  # of captures and refunds: the settlement file reports it


class _Ledger(Protocol):
    def once(self, operation: Operation) -> Operation:
        """Store `operation` unless its key exists; return the stored one either way."""
        ...

    def find(self, *, reference: str, kind: str) -> list[Operation]: ...

    def of_payments(self, payment_ids: Sequence[str], kind: str) -> list[Operation]: ...

    def operations(self, payment_id: str) -> list[Operation]: ...


class MemoryLedger:
    """The ledger in one process's memory, indexed as the Postgres table is (a lookup
    costs the same after a million operations as after ten)."""

    def __init__(self) -> None:
        self._by_key: dict[str, Operation] = {}
        self._by_reference: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._by_payment: dict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()

    def once(self, operation: Operation) -> Operation:
        with self._lock:
            stored = self._by_key.get(operation.key)
            if stored is None:
                self._by_key[operation.key] = operation
                self._by_reference[operation.reference, operation.kind].append(operation.key)
                self._by_payment[operation.payment_id].append(operation.key)
                return operation
            replayed = dataclasses.replace(stored, requests=stored.requests + 1)
            self._by_key[operation.key] = replayed
            return replayed

    def find(self, *, reference: str, kind: str) -> list[Operation]:
        with self._lock:
            return [self._by_key[key] for key in self._by_reference.get((reference, kind), ())]

    def of_payments(self, payment_ids: Sequence[str], kind: str) -> list[Operation]:
        with self._lock:
            found = (self._by_key[key] for i in set(payment_ids) for key in self._keys_of(i))
            return [operation for operation in found if operation.kind == kind]

    def operations(self, payment_id: str) -> list[Operation]:
        with self._lock:
            return [self._by_key[key] for key in self._keys_of(payment_id)]

    def _keys_of(self, payment_id: str) -> Sequence[str]:
        return self._by_payment.get(payment_id, ())


_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS acquirer_sim;
CREATE TABLE IF NOT EXISTS acquirer_sim.operations (
    key text PRIMARY KEY,
    kind text NOT NULL,
    payment_id text NOT NULL,
    reference text NOT NULL,
    amount_minor bigint NOT NULL,
    result jsonb NOT NULL,
    requests integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS operations_payment ON acquirer_sim.operations (payment_id);
CREATE INDEX IF NOT EXISTS operations_reference ON acquirer_sim.operations (reference, kind);
ALTER TABLE acquirer_sim.operations ADD COLUMN IF NOT EXISTS currency text NOT NULL DEFAULT '';
"""
_COLUMNS = "key, kind, payment_id, reference, amount_minor, result, requests, currency"


class PostgresLedger:
    def __init__(self, database_url: str) -> None:
        self._connections = ThreadConnections(database_url, schema_sql=_SCHEMA, name="acquirer_sim")
        # The processor's lanes call at once: their operations share one statement
        # (bench/README.md, "The simulator's writes batched").
        self._once = Batched(self._insert, key=lambda operation: operation.key)

    def _conn(self) -> psycopg.Connection[Any]:
        return self._connections.get()

    def once(self, operation: Operation) -> Operation:
        return self._once(operation)

    def _insert(self, operations: Sequence[Operation]) -> list[Operation]:
        # Sorted by key, so two processes' statements take the rows' locks in one order.
        ordered = sorted(operations, key=lambda operation: operation.key)
        rows = (
            self._conn()
            .execute(
                """
                INSERT INTO acquirer_sim.operations
                    (key, kind, payment_id, reference, amount_minor, result, currency)
                SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],
                    %s::bigint[], %s::jsonb[], %s::text[])
                ON CONFLICT (key) DO UPDATE SET requests = operations.requests + 1
                RETURNING key, kind, payment_id, reference, amount_minor, result, requests,
                    currency
                """,
                (
                    [op.key for op in ordered],
                    [op.kind for op in ordered],
                    [op.payment_id for op in ordered],
                    [op.reference for op in ordered],
                    [op.amount_minor for op in ordered],
                    [Jsonb(op.result) for op in ordered],
                    [op.currency for op in ordered],
                ),
            )
            .fetchall()
        )
        stored = {row[0]: Operation(*row) for row in rows}
        return [stored[operation.key] for operation in operations]

    def find(self, *, reference: str, kind: str) -> list[Operation]:
        rows = (
            self._conn()
            .execute(
                f"SELECT {_COLUMNS} FROM acquirer_sim.operations"  # noqa: S608
                " WHERE reference = %s AND kind = %s",
                (reference, kind),
            )
            .fetchall()
        )
        return [Operation(*row) for row in rows]

    def of_payments(self, payment_ids: Sequence[str], kind: str) -> list[Operation]:
        rows = (
            self._conn()
            .execute(
                f"SELECT {_COLUMNS} FROM acquirer_sim.operations"  # noqa: S608
                " WHERE payment_id = ANY(%s) AND kind = %s",
                (list(payment_ids), kind),
                # Planned for its array each time: prepared, Postgres soon settles on a
                # generic plan that scans the table (4.5 ms a call, against 0.13 ms).
                prepare=False,
            )
            .fetchall()
        )
        return [Operation(*row) for row in rows]

    def operations(self, payment_id: str) -> list[Operation]:
        rows = (
            self._conn()
            .execute(
                f"SELECT {_COLUMNS} FROM acquirer_sim.operations"  # noqa: S608
                " WHERE payment_id = %s ORDER BY created_at",
                (payment_id,),
            )
            .fetchall()
        )
        return [Operation(*row) for row in rows]


# Authorizations a simulator keeps in memory (the newest), besides its ledger.
AUTHORIZATIONS_KEPT = 100_000


class SimulatedAcquirer:
    def __init__(self, ledger: _Ledger | None = None, *, latency_s: float = 0.0) -> None:
        self.ledger: _Ledger = ledger or MemoryLedger()
        self.latency_s = latency_s
        # An authorization never changes once made (a repeat only counts `requests`),
        # so a capture, void or refund finds it here without a lookup in the ledger:
        # one round trip a payment fewer (bench/README.md, "The simulator's lookups").
        self._authorizations: dict[str, Operation] = {}
        self._authorizations_lock = threading.Lock()

    def authorize(
        self, *, idempotency_key: str, payment_id: UUID, amount: Money, card: CardDetails
    ) -> AuthorizationResult:
        self._wait()
        if card.token == TIMEOUT_TOKEN:
            raise AcquirerTimeout("the simulated acquirer did not answer in time")
        decline = DECLINES.get(card.token)
        result: dict[str, Any] = {"approved": decline is None, "token": card.token}
        if decline:
            result |= {"decline_code": decline, "message": f"the card was declined: {decline}"}
        else:
            result |= {"authorization_code": secrets.token_hex(3).upper()}
        reference = f"sim_{secrets.token_hex(12)}"
        stored = self.ledger.once(
            Operation(
                idempotency_key,
                "authorize",
                str(payment_id),
                reference,
                amount.amount_minor,
                result,
            )
        )
        self._keep(stored)
        if card.token == AUTH_LOST_TOKEN and not stored.result.get("cancelled"):
            raise AcquirerTimeout("the simulated acquirer authorized, but the answer was lost")
        return _authorization_result(stored)

    def resolve_authorization(self, *, idempotency_key: str) -> AuthorizationResult | None:
        stored = self.ledger.once(Operation(idempotency_key, "authorize", "", "", 0, CANCELLED))
        return None if stored.result.get("cancelled") else _authorization_result(stored)

    def resolve_refund(self, *, idempotency_key: str) -> RefundResult | None:
        stored = self.ledger.once(Operation(idempotency_key, "refund", "", "", 0, CANCELLED))
        return None if stored.result.get("cancelled") else _refund_result(stored)

    def capture(self, *, idempotency_key: str, reference: str, amount: Money) -> None:
        self._wait()
        authorization = self._authorization(reference)
        if amount.amount_minor > authorization.amount_minor:
            raise AcquirerRefused("a capture above the authorization")
        token = authorization.result.get("token")
        if token == CAPTURE_REFUSED_TOKEN or self._first_capture_key(
            token, reference, idempotency_key
        ):
            raise AcquirerRefused("the authorization has lapsed")
        self.ledger.once(
            Operation(
                idempotency_key,
                "capture",
                authorization.payment_id,
                reference,
                amount.amount_minor,
                {},
                currency=amount.currency,
            )
        )

    def _first_capture_key(self, token: object, reference: str, idempotency_key: str) -> bool:
        """For `tok_capture_refused_once`: whether `idempotency_key` is the first key a
        capture of authorization `reference` was asked under (the first ask wins)."""
        if token != CAPTURE_REFUSED_ONCE_TOKEN:
            return False
        marker = Operation(
            f"{reference}:first_capture", "first_capture", "", "", 0, {"key": idempotency_key}
        )
        return self.ledger.once(marker).result.get("key") == idempotency_key

    def void(self, *, idempotency_key: str, reference: str) -> None:
        self._wait()
        authorization = self._authorization(reference)
        self.ledger.once(
            Operation(idempotency_key, "void", authorization.payment_id, reference, 0, {})
        )

    def refund(self, *, idempotency_key: str, reference: str, amount: Money) -> RefundResult:
        self._wait()
        authorization = self._authorization(reference)
        token = authorization.result.get("token")
        captured = sum(
            o.amount_minor for o in self.ledger.find(reference=reference, kind="capture")
        )
        refunded = sum(
            o.amount_minor
            for o in self.ledger.find(reference=reference, kind="refund")
            if o.result.get("succeeded") and o.key != idempotency_key
        )
        failure = ""
        if token == REFUND_FAIL_TOKEN:
            failure = "refund_declined"
        elif refunded + amount.amount_minor > captured:
            failure = "amount_exceeds_captured"
        result = {"succeeded": not failure, "failure_code": failure}
        stored = self.ledger.once(
            Operation(
                idempotency_key,
                "refund",
                authorization.payment_id,
                reference,
                amount.amount_minor,
                result | {"refund_reference": f"simre_{secrets.token_hex(12)}"},
                currency=amount.currency,
            )
        )
        if token == REFUND_LOST_TOKEN:
            raise AcquirerTimeout("the simulated acquirer refunded, but the answer was lost")
        return _refund_result(stored)

    def dispute_notices(self, *, payment_ids: Sequence[UUID]) -> dict[UUID, DisputeNotice]:
        """The chargebacks of these payments (those paid with the disputing test card),
        by payment; asked once their captures are recorded, a batch in one query."""
        if not payment_ids:
            return {}
        found = self.ledger.of_payments([str(i) for i in payment_ids], "authorize")
        return {
            UUID(op.payment_id): DisputeNotice(DisputeReason.FRAUDULENT)
            for op in found
            if op.result.get("token") == DISPUTED_TOKEN
        }

    def operations(self, payment_id: UUID) -> list[Operation]:
        return [
            op for op in self.ledger.operations(str(payment_id)) if not op.result.get("cancelled")
        ]

    def _authorization(self, reference: str) -> Operation:
        with self._authorizations_lock:
            kept = self._authorizations.get(reference)
        if kept is not None:
            return kept
        found = self.ledger.find(reference=reference, kind="authorize")
        if not found:
            raise AcquirerRefused(f"no authorization {reference}")
        self._keep(found[0])
        return found[0]

    def _keep(self, authorization: Operation) -> None:
        if not authorization.reference or authorization.result.get("cancelled"):
            return  # a cancelled key has no authorization to capture
        with self._authorizations_lock:
            self._authorizations[authorization.reference] = authorization
            if len(self._authorizations) > AUTHORIZATIONS_KEPT:
                del self._authorizations[next(iter(self._authorizations))]  # the oldest

    def _wait(self) -> None:
        if self.latency_s > 0:
            time.sleep(self.latency_s)


def _authorization_result(stored: Operation) -> AuthorizationResult:
    if stored.result.get("cancelled"):
        return AuthorizationResult(approved=False, decline_code="cancelled", message="cancelled")
    return AuthorizationResult(
        approved=bool(stored.result["approved"]),
        reference=stored.reference,
        authorization_code=str(stored.result.get("authorization_code", "")),
        decline_code=str(stored.result.get("decline_code", "")),
        message=str(stored.result.get("message", "")),
    )


def _refund_result(stored: Operation) -> RefundResult:
    if stored.result.get("cancelled"):
        return RefundResult(succeeded=False, failure_code="cancelled")
    return RefundResult(
        succeeded=bool(stored.result["succeeded"]),
        reference=str(stored.result.get("refund_reference", "")),
        failure_code=str(stored.result.get("failure_code", "")),
    )
