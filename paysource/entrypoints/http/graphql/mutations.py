"""Mutations: the REST commands, through the same services, fingerprints and fast path.

A mutation and the REST call it mirrors are one request to paysource: the same
idempotency key with the same input replays the same answer whichever API sent it
first; another input with that key is refused (`idempotency_key_reused`). Inputs go
through the request models REST uses (entrypoints/http/inputs.py), so both APIs
refuse exactly the same things.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from pydantic import ValidationError as PydanticValidationError
from strawberry.scalars import JSON

from paysource.application.idempotency import Outcome, fingerprint
from paysource.application.ids import Kind, decode
from paysource.application.results import PaymentState, RefundState
from paysource.domain.errors import PaysourceError
from paysource.domain.idempotency import check_idempotency_key
from paysource.domain.refund import RefundReason as DomainRefundReason
from paysource.entrypoints.http.graphql import errors, fields
from paysource.entrypoints.http.graphql.commands import Command, check_writer
from paysource.entrypoints.http.graphql.context import Context
from paysource.entrypoints.http.graphql.relay_resolution import RelayAction, resolve_relay
from paysource.entrypoints.http.graphql.results import PaymentMutationResult, RefundMutationResult
from paysource.entrypoints.http.graphql.scalars import MinorUnits
from paysource.entrypoints.http.graphql.types.payment import CaptureMethod
from paysource.entrypoints.http.inputs import CancelIn, CaptureIn, PaymentIn, RefundIn


@strawberry.enum
class RefundReason(Enum):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"


@strawberry.input
class CreatePaymentInput:
    amount: MinorUnits
    currency: str
    source: str = strawberry.field(description="A card token, e.g. `tok_visa`. Never a number.")
    customer: strawberry.ID | None = strawberry.UNSET
    capture_method: CaptureMethod | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET


@strawberry.input
class CreateRefundInput:
    payment: strawberry.ID
    amount: MinorUnits | None = strawberry.UNSET
    reason: RefundReason | None = strawberry.UNSET


def _given(**fields: Any) -> dict[str, Any]:
    """The fields the client sent (REST's `exclude_unset`), enums as their values."""
    return {
        name: value.value if isinstance(value, Enum) else value
        for name, value in fields.items()
        if value is not strawberry.UNSET
    }


async def _guarded(run: Callable[[], Awaitable[Any]]) -> Any:
    """Expected failures become typed results; anything else is a bug and propagates."""
    try:
        return await run()
    except (PaysourceError, PydanticValidationError) as error:
        return errors.from_exception(error)


def _key(key: str | None) -> str | None:
    return None if key is None else check_idempotency_key(key)


@strawberry.type
class Mutation:
    @fields.mutation("As POST /v1/payments: `PROCESSING` now, then the worker.")
    async def create_payment(
        self,
        info: strawberry.Info[Context],
        input: CreatePaymentInput,  # noqa: A002
        idempotency_key: str,
    ) -> PaymentMutationResult:
        async def run() -> Any:
            await check_writer(info.context)
            body = PaymentIn.model_validate(
                _given(
                    amount=int(input.amount),
                    currency=input.currency,
                    source=input.source,
                    customer=input.customer,
                    capture_method=input.capture_method,
                    description=input.description,
                    metadata=input.metadata,
                )
            )
            request_hash = fingerprint("POST", "/v1/payments", body.fingerprint_body())
            command = Command.of(info.context, _key(idempotency_key), request_hash)
            return await command.created_payment(_create_payment(command, body))

        return await _guarded(run)  # type: ignore[no-any-return]

    @fields.mutation("As POST /v1/payments/{id}/capture: all or part, once.")
    async def capture_payment(
        self,
        info: strawberry.Info[Context],
        id: strawberry.ID,  # noqa: A002
        amount: MinorUnits | None = strawberry.UNSET,
        idempotency_key: str | None = None,
    ) -> PaymentMutationResult:
        async def run() -> Any:
            await check_writer(info.context)
            payment_id = decode(Kind.PAYMENT, id)
            body = CaptureIn.model_validate(_given(amount=amount))
            path = f"/v1/payments/{id}/capture"
            request_hash = fingerprint("POST", path, body.fingerprint_body())
            command = Command.of(info.context, _key(idempotency_key), request_hash)
            return await command.payment(_capture(command, payment_id, body), status=200)

        return await _guarded(run)  # type: ignore[no-any-return]

    @fields.mutation("As POST /v1/payments/{id}/cancel: only before capture.")
    async def cancel_payment(
        self,
        info: strawberry.Info[Context],
        id: strawberry.ID,  # noqa: A002
        idempotency_key: str | None = None,
    ) -> PaymentMutationResult:
        async def run() -> Any:
            await check_writer(info.context)
            payment_id = decode(Kind.PAYMENT, id)
            path = f"/v1/payments/{id}/cancel"
            request_hash = fingerprint("POST", path, CancelIn().fingerprint_body())
            command = Command.of(info.context, _key(idempotency_key), request_hash)
            return await command.payment(_cancel(command, payment_id), status=200)

        return await _guarded(run)  # type: ignore[no-any-return]

    @fields.mutation("As POST /v1/refunds: `PENDING` now, then the worker.")
    async def create_refund(
        self,
        info: strawberry.Info[Context],
        input: CreateRefundInput,  # noqa: A002
        idempotency_key: str,
    ) -> RefundMutationResult:
        async def run() -> Any:
            await check_writer(info.context)
            body = RefundIn.model_validate(
                _given(payment=input.payment, amount=input.amount, reason=input.reason)
            )
            request_hash = fingerprint("POST", "/v1/refunds", body.fingerprint_body())
            command = Command.of(info.context, _key(idempotency_key), request_hash)
            return await command.refund(_refund(command, body))

        return await _guarded(run)  # type: ignore[no-any-return]

    @fields.mutation(
        "As POST /v1/payments/{id}/resolve_relay (admin): retry a capture the acquirer "
        "refused, or reverse it in the books, with a reason."
    )
    async def resolve_relay(
        self,
        info: strawberry.Info[Context],
        id: strawberry.ID,  # noqa: A002
        action: RelayAction,
        reason: str,
        idempotency_key: str,
    ) -> PaymentMutationResult:
        async def run() -> Any:
            return await resolve_relay(info.context, id, action, reason, idempotency_key)

        return await _guarded(run)  # type: ignore[no-any-return]


# The commands as the REST routes run them; each returns the command's result, which
# Command renders (and stores in the fast path as REST's answer, for both APIs).


def _create_payment(c: Command, body: PaymentIn) -> Callable[[], Outcome[PaymentState]]:
    def run() -> Outcome[PaymentState]:
        assert c.key is not None, "creating a payment needs a key"
        return c.cell.payments.create_payment(
            body.command(c.merchant_id, c.key, c.request_hash, c.meta())
        )

    return run


def _capture(c: Command, payment_id: UUID, body: CaptureIn) -> Callable[[], Outcome[PaymentState]]:
    def run() -> Outcome[PaymentState]:
        return c.cell.payments.capture_payment(
            merchant_id=c.merchant_id,
            payment_id=payment_id,
            amount=body.amount,
            idempotency_key=c.key,
            request_hash=c.request_hash,
            meta=c.meta(),
        )

    return run


def _cancel(c: Command, payment_id: UUID) -> Callable[[], Outcome[PaymentState]]:
    def run() -> Outcome[PaymentState]:
        return c.cell.payments.cancel_payment(
            merchant_id=c.merchant_id,
            payment_id=payment_id,
            idempotency_key=c.key,
            request_hash=c.request_hash,
            meta=c.meta(),
        )

    return run


def _refund(c: Command, body: RefundIn) -> Callable[[], Outcome[RefundState]]:
    def run() -> Outcome[RefundState]:
        assert c.key is not None, "refunding needs a key"
        payment_id = decode(Kind.PAYMENT, body.payment)
        return c.cell.refunds.create_refund(
            merchant_id=c.merchant_id,
            payment_id=payment_id,
            amount=body.amount,
            reason=DomainRefundReason(body.reason) if body.reason else None,
            idempotency_key=c.key,
            request_hash=c.request_hash,
            meta=c.meta(),
        )

    return run
