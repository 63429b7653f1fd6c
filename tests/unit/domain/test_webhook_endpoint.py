"""WebhookEndpoint: registration rules and its enabled/disabled/deleted life."""

from __future__ import annotations

from uuid import uuid4

import pytest
from domain_builders import MERCHANT_ID, merchant_meta, pending_event_names

from paysource.domain.errors import IllegalTransition, InvalidValue
from paysource.domain.webhook_endpoint import (
    EndpointSlot,
    EndpointStatus,
    WebhookEndpoint,
    check_event_patterns,
    endpoint_slot_id,
    subscribes,
)

KNOWN = frozenset({"payment.created", "payment.succeeded", "refund.succeeded"})


def endpoint(url: str = "https://hooks.example.com/in", events: list[str] | None = None):  # type: ignore[no-untyped-def]
    return WebhookEndpoint.register(
        endpoint_id=uuid4(),
        merchant_id=MERCHANT_ID,
        url=url,
        events=events or ["*"],
        known_types=KNOWN,
        description=None,
        request_hash="h",
        meta=merchant_meta(),
    )


def test_a_new_endpoint_is_enabled_with_the_first_secret_generation() -> None:
    created = endpoint(events=["payment.*", "refund.succeeded", "payment.*"])

    assert created.status is EndpointStatus.ENABLED
    assert created.secret_generation == 1
    assert created.events == ["payment.*", "refund.succeeded"]
    assert pending_event_names(created) == ["Created"]


@pytest.mark.parametrize(
    "events",
    [[], ["payment.exploded"], ["settlement.*"], ["payment"], ["*"] * 51],
)
def test_unknown_or_too_many_event_types_are_refused(events: list[str]) -> None:
    with pytest.raises(InvalidValue):
        check_event_patterns(events, KNOWN)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x.example/",
        "https://",
        "https://u:p@x.example/",
        "https://x.example/#f",
        "https://x.example:0/",
        "https://x.example:65536/",
    ],
)
def test_a_url_that_is_not_plain_http_or_https_is_refused(url: str) -> None:
    with pytest.raises(InvalidValue, match="url"):
        endpoint(url)


@pytest.mark.parametrize(
    ("patterns", "event_type", "selected"),
    [
        (["*"], "refund.succeeded", True),
        (["payment.*"], "payment.succeeded", True),
        (["payment.*"], "refund.succeeded", False),
        (["payment.created"], "payment.created", True),
        (["payment.created"], "payment.succeeded", False),
    ],
)
def test_patterns_select_event_types(patterns: list[str], event_type: str, selected: bool) -> None:
    assert subscribes(patterns, event_type) is selected


def test_a_disabled_endpoint_keeps_its_reason_until_enabled_again() -> None:
    created = endpoint()
    created.disable("failing since Monday", merchant_meta())

    assert created.status is EndpointStatus.DISABLED
    assert created.disabled_reason == "failing since Monday"
    with pytest.raises(IllegalTransition):
        created.disable("again", merchant_meta())

    created.enable(merchant_meta())

    assert created.status is EndpointStatus.ENABLED
    assert created.disabled_reason is None
    with pytest.raises(IllegalTransition):
        created.enable(merchant_meta())


def test_rotating_the_secret_moves_to_the_next_generation() -> None:
    created = endpoint()
    created.rotate_secret(merchant_meta())
    created.rotate_secret(merchant_meta())

    assert created.secret_generation == 3


def test_a_deleted_endpoint_can_be_neither_changed_nor_enabled() -> None:
    created = endpoint()
    created.delete(merchant_meta())

    for command in (created.delete, created.rotate_secret, created.enable):
        with pytest.raises(IllegalTransition):
            command(merchant_meta())


def test_a_merchants_places_have_ids_of_their_own() -> None:
    other = uuid4()

    assert endpoint_slot_id(MERCHANT_ID, 0) == endpoint_slot_id(MERCHANT_ID, 0)
    assert endpoint_slot_id(MERCHANT_ID, 0) != endpoint_slot_id(MERCHANT_ID, 1)
    assert endpoint_slot_id(MERCHANT_ID, 0) != endpoint_slot_id(other, 0)


def test_a_place_is_held_by_one_endpoint_until_that_one_frees_it() -> None:
    first, second = uuid4(), uuid4()
    slot = EndpointSlot.first_take(
        merchant_id=MERCHANT_ID, number=3, endpoint_id=first, meta=merchant_meta()
    )

    assert slot.id == endpoint_slot_id(MERCHANT_ID, 3)
    with pytest.raises(IllegalTransition):
        slot.take(second, merchant_meta())
    with pytest.raises(IllegalTransition):
        slot.free(second, merchant_meta())
    slot.free(first, merchant_meta())
    slot.take(second, merchant_meta())
    assert slot.endpoint_id == second
    assert pending_event_names(slot) == ["Created", "Freed", "Taken"]
