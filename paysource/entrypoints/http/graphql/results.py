"""Result unions: what a field answers, success or an expected failure (errors.py)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from paysource.entrypoints.http.graphql.errors import (
    NotAllowedError,
    NotFoundError,
    RetryableError,
    StateError,
    ValidationError,
)
from paysource.entrypoints.http.graphql.types.customer import Customer
from paysource.entrypoints.http.graphql.types.payment import Payment
from paysource.entrypoints.http.graphql.types.refund import Refund
from paysource.entrypoints.http.graphql.types.settlement import Settlement


@strawberry.type(description="A payment as the command left it.")
class PaymentPayload:
    payment: Payment
    replayed: bool = strawberry.field(
        description="True when this answers an earlier request with the same idempotency key."
    )


@strawberry.type(description="A refund as the command left it.")
class RefundPayload:
    refund: Refund
    replayed: bool


PaymentResult = Annotated[Payment | NotFoundError, strawberry.union("PaymentResult")]
CustomerResult = Annotated[Customer | NotFoundError, strawberry.union("CustomerResult")]
SettlementResult = Annotated[Settlement | NotFoundError, strawberry.union("SettlementResult")]
PaymentMutationResult = Annotated[
    PaymentPayload
    | NotFoundError
    | NotAllowedError
    | ValidationError
    | StateError
    | RetryableError,
    strawberry.union("PaymentMutationResult"),
]
RefundMutationResult = Annotated[
    RefundPayload | NotFoundError | NotAllowedError | ValidationError | StateError | RetryableError,
    strawberry.union("RefundMutationResult"),
]
