"""Subscriptions `paymentUpdated` (the payment now, then again after every change) and
`paymentCreated` (each new payment the caller may see).

Changes come from Redis pub/sub (published by the worker's PaymentNotifier), so
they reach this process whichever process wrote them. Each message names a version;
the payment is shown exactly at that version, from the event store. Repeats and
reordered messages are dropped by version.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import UUID

import strawberry
from graphql import GraphQLError

from paysource.adapters.redis.feed import PaymentFeed
from paysource.application.errors import TooManySubscriptions
from paysource.application.ids import Kind
from paysource.entrypoints.http.graphql import fields, history, ids
from paysource.entrypoints.http.graphql.context import Context
from paysource.entrypoints.http.graphql.errors import NotFoundError, not_found
from paysource.entrypoints.http.graphql.policy import Access
from paysource.entrypoints.http.graphql.policy import Kind as Policy
from paysource.entrypoints.http.graphql.results import PaymentResult
from paysource.entrypoints.http.graphql.types.payment import Payment
from paysource.processes.notifier import PaymentChanged, new_payments_channel


async def _visible(context: Context, payment_id: UUID, version: int | None) -> Payment | None:
    row = await history.payment(context.loaders.reads.cells, payment_id, version=version)
    if row is None or not context.access.sees(Policy.PAYMENT, row):
        return None
    return Payment.from_row(row)


@strawberry.type
class Subscription:
    @fields.subscription(
        "The payment as it is now, then after each change of its status or "
        "refunds. NotFoundError (then the end) for an id the caller cannot see."
    )
    async def payment_updated(
        self,
        info: strawberry.Info[Context],
        id: strawberry.ID,  # noqa: A002
    ) -> AsyncGenerator[PaymentResult, None]:
        context = info.context
        payment_id = ids.parse(Kind.PAYMENT, id)
        current = None if payment_id is None else await _visible(context, payment_id, None)
        if payment_id is None or current is None:
            yield not_found("payment")
            return
        feed = context.services.feed
        if not feed.live:
            yield current
            return
        # Subscribe, then read the state: a change between the two is not lost.
        async with _subscribed(feed, payment_id, owner(context.access)) as changes:
            current = await _visible(context, payment_id, None) or current
            yield current
            seen = current.version
            async for change in changes:
                if context.access.expired(datetime.now(UTC)):
                    return  # the token's time is up (websocket.py closes the connection)
                if change.version <= seen:
                    continue
                seen = change.version
                context.fresh_loaders()  # nested fields must not show a cached past
                update = await _visible(context, payment_id, change.version)
                yield update if update is not None else _gone()

    @fields.subscription(
        "Each new payment the caller may see, as it was created (then follow it with "
        "`paymentUpdated`): the merchant's own, every merchant's for staff. Nothing "
        "before the subscription started; read `viewer.payments` for those."
    )
    async def payment_created(
        self, info: strawberry.Info[Context]
    ) -> AsyncGenerator[Payment, None]:
        context = info.context
        feed = context.services.feed
        if not feed.live or context.access.customer_id is not None:
            return  # no live updates without Redis; a shopper's payments are its own doing
        name = new_payments_channel(context.access.merchant_id)
        async with _subscribed(feed, name, owner(context.access)) as changes:
            async for change in changes:
                if context.access.expired(datetime.now(UTC)):
                    return
                context.fresh_loaders()
                created = await _visible(context, change.payment_id, change.version)
                if created is not None:
                    yield created


@asynccontextmanager
async def _subscribed(
    feed: PaymentFeed, target: UUID | str, who: str
) -> AsyncIterator[AsyncIterator[PaymentChanged]]:
    """The feed's subscription to one payment, or to a channel by name; its quota
    refusal as the GraphQL error clients know."""
    subscription = (
        feed.changes(target, owner=who)
        if isinstance(target, UUID)
        else feed.changes_on(target, owner=who)
    )
    try:
        async with subscription as changes:
            yield changes
    except TooManySubscriptions as error:
        extensions = {"code": error.code, "limit": error.limit}
        raise GraphQLError(str(error), extensions=extensions) from None


def owner(access: Access) -> str:
    """Whose subscription quota a subscription uses: its merchant's (whichever key or
    token of the merchant opened it), else the staff key's."""
    if access.merchant_id is not None:
        return f"merchant:{access.merchant_id.hex}"
    return f"key:{access.principal.key_id or access.principal.role}"


def _gone() -> NotFoundError:
    return not_found("payment")
