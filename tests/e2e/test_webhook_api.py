"""The webhook API over HTTP: register (secret shown once), refuse SSRF targets, list
deliveries with their attempts, resend, rotate, delete; merchants never see each
other's endpoints or deliveries."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.application.ids import decode_prefixed
from paysource.bootstrap import Container, Webhooks
from paysource.domain.meta import Meta
from paysource.domain.webhook_endpoint import WebhookEndpoint
from paysource.entrypoints.http.app import create_app
from paysource.entrypoints.http.rest.routes.webhooks import ENDPOINT_PREFIX, install
from paysource.webhook_signature import verify
from tests.helpers import Api, admin, drain, new_key
from tests.integration.test_webhook_delivery import Receiver, Tarpit, webhook_settings

ENDPOINTS = "/v1/webhook_endpoints"


@dataclass
class Setup:
    client: TestClient
    webhooks: Webhooks
    container: Container

    def process(self) -> None:
        drain(self.container)
        for cell in self.container.router.all():
            outbox = self.webhooks.outbox(cell)
            run_until_caught_up(Follower(cell.store, outbox, wakeup=Wakeup()))

    def deliver_until(self, done: Callable[[], bool], timeout_s: float = 15.0) -> None:
        workers = [self.webhooks.delivery_worker(c) for c in self.container.router.all()]
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, "deliveries did not finish in time"
            if not sum(worker.step("test-lane") for worker in workers):
                time.sleep(0.02)


def make_setup(container: Container, **settings: Any) -> Iterator[Setup]:
    app = create_app(container)
    webhooks = install(app, Webhooks(container, webhook_settings(**settings)))
    with TestClient(app) as client:
        yield Setup(client, webhooks, container)
    webhooks.close()


@pytest.fixture
def setup(container: Container) -> Iterator[Setup]:
    yield from make_setup(container, max_attempts=1)


@pytest.fixture
def strict(container: Container) -> Iterator[Setup]:
    """Private networks refused, as in production."""
    yield from make_setup(container, allow_private_networks=False)


def register(merchant: Api, url: str, events: list[str] | None = None) -> dict[str, Any]:
    response = merchant.post(ENDPOINTS, {"url": url, "events": events or ["*"]})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def generation(setup: Setup, endpoint: dict[str, Any]) -> int:
    """The endpoint's secret generation as stored: how many secrets it has had."""
    stored = setup.container.router.all()[0].store.get(
        decode_prefixed(ENDPOINT_PREFIX, endpoint["id"], "endpoint"), WebhookEndpoint
    )
    assert stored is not None
    return stored.secret_generation


def test_registering_shows_the_secret_once_and_reads_never_do(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()

    created = register(merchant, "http://127.0.0.1:9/hooks", ["payment.*", "refund.succeeded"])

    assert created["id"].startswith("we_")
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) == len("whsec_") + 64
    assert created["status"] == "enabled"
    assert created["events"] == ["payment.*", "refund.succeeded"]
    fetched = merchant.get(f"{ENDPOINTS}/{created['id']}").json()
    assert fetched == {**created, "secret": None}
    setup.process()
    listed = merchant.get(ENDPOINTS).json()
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    assert listed["data"][0]["secret"] is None


def test_a_replayed_registration_answers_the_same_endpoint_and_secret(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    key = new_key()
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["*"]}

    first = merchant.post(ENDPOINTS, body, Idempotency_Key=key)
    again = merchant.post(ENDPOINTS, body, Idempotency_Key=key)
    other = merchant.post(ENDPOINTS, {**body, "events": ["payment.*"]}, Idempotency_Key=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency_key_reused")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "http://127.0.0.1:9/", "events": ["payment.exploded"]}, "invalid_value"),
        ({"url": "http://127.0.0.1:9/", "events": []}, "validation_error"),
        ({"url": "http://127.0.0.1:9/", "events": ["*"] * 51}, "validation_error"),
        ({"events": ["*"]}, "validation_error"),
        ({"url": "http://127.0.0.1:9/", "events": ["*"], "secret": "mine"}, "validation_error"),
        ({"url": "ftp://127.0.0.1/", "events": ["*"]}, "webhook_url_refused"),
    ],
)
def test_a_bad_registration_is_refused_and_writes_nothing(
    setup: Setup, body: dict[str, Any], code: str
) -> None:
    merchant = admin(setup.client).merchant()

    response = merchant.post(ENDPOINTS, body)

    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith(f"/{code}")
    setup.process()
    assert merchant.get(ENDPOINTS).json()["data"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",
        "http://[::1]/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.7/hooks",
        "http://172.20.0.1/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hooks",
        "http://metadata.google.internal/computeMetadata/v1/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "ftp://example.com/hooks",
    ],
)
def test_urls_that_could_reach_inside_are_refused_without_allow_private(
    strict: Setup, url: str
) -> None:
    merchant = admin(strict.client).merchant()

    response = merchant.post(ENDPOINTS, {"url": url, "events": ["*"]})

    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/webhook_url_refused")
    assert response.json()["errors"][0]["field"] == "url"


def test_deliveries_list_their_attempts_and_a_resend_is_queued_for_the_workers(
    setup: Setup,
) -> None:
    merchant = admin(setup.client).merchant()
    with Receiver(lambda headers, body: 500) as receiver:
        endpoint = register(merchant, receiver.url, ["payment.succeeded"])
        merchant.pay()
        setup.process()
        setup.deliver_until(lambda: len(receiver.requests) == 1)

        listed = merchant.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries").json()
        [delivery] = listed["data"]
        assert delivery["status"] == "failed"  # max_attempts=1 here
        assert delivery["event_type"] == "payment.succeeded"
        assert delivery["resend_requested"] is None
        assert [(a["status_code"], a["trigger"]) for a in delivery["attempts"]] == [
            (500, "automatic")
        ]

        receiver.decide = lambda headers, body: 204
        path = f"{ENDPOINTS}/{endpoint['id']}/deliveries/{delivery['id']}"
        resent = merchant.post(f"{path}/resend")
        again = merchant.post(f"{path}/resend")

        assert resent.status_code == 202, resent.text
        assert resent.json()["resend_requested"] is not None
        assert (resent.json()["status"], resent.json()["attempt_count"]) == ("failed", 1)
        assert again.json()["resend_requested"] == resent.json()["resend_requested"]
        assert len(receiver.requests) == 1, "the API itself sends nothing"
        setup.deliver_until(lambda: len(receiver.delivered()) == 1)
        cell = setup.container.router.all()[0]
        assert setup.webhooks.delivery_worker(cell).step("lane") == 0, "nothing more is due"

    assert len(receiver.requests) == 2, "two resends asked for before the attempt are one"
    one = merchant.get(path).json()
    assert (one["status"], one["attempt_count"], one["resend_requested"]) == ("succeeded", 2, None)
    assert [a["trigger"] for a in one["attempts"]] == ["manual", "automatic"]
    final = receiver.delivered()[0]
    event = verify(final.body, final.headers["paysource-signature"], endpoint["secret"])
    assert event["id"] == delivery["event"]


def test_a_resend_to_a_receiver_that_never_answers_returns_at_once(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    with Tarpit() as tarpit:
        endpoint = register(merchant, tarpit.url, ["payment.created"])
        merchant.pay()
        setup.process()
        [delivery] = merchant.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries").json()["data"]

        started = time.monotonic()
        answers = [
            merchant.post(f"{ENDPOINTS}/{endpoint['id']}/deliveries/{delivery['id']}/resend")
            for _ in range(5)
        ]
        elapsed = time.monotonic() - started

        assert [a.status_code for a in answers] == [202] * 5
        assert elapsed < 2.0, f"resends waited for the receiver: {elapsed:.1f} s"
        assert tarpit.connections == 0
        assert setup.client.get("/healthz").status_code == 200


def test_a_replayed_resend_answers_the_first_resend_and_sends_nothing_again(
    setup: Setup,
) -> None:
    merchant = admin(setup.client).merchant()
    cell = setup.container.router.all()[0]
    with Receiver(lambda headers, body: 500) as receiver:
        endpoint = register(merchant, receiver.url, ["payment.succeeded"])
        merchant.pay()
        setup.process()
        setup.deliver_until(lambda: len(receiver.requests) == 1)
        [delivery] = merchant.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries").json()["data"]
        path = f"{ENDPOINTS}/{endpoint['id']}/deliveries/{delivery['id']}"
        receiver.decide = lambda headers, body: 204
        key = new_key()

        first = merchant.post(f"{path}/resend", Idempotency_Key=key)
        setup.deliver_until(lambda: len(receiver.delivered()) == 1)
        # After the resend's attempt: a retry used to queue another one.
        again = merchant.post(f"{path}/resend", Idempotency_Key=key)

        assert (first.status_code, again.status_code) == (202, 202), again.text
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert first.json()["resend_requested"] is not None
        assert again.json() == first.json(), "the delivery as the first resend showed it"
        assert setup.webhooks.delivery_worker(cell).step("lane") == 0, "nothing more is due"

    assert len(receiver.requests) == 2, "one automatic attempt, one resend"
    now = merchant.get(path).json()
    assert (now["status"], now["attempt_count"], now["resend_requested"]) == ("succeeded", 2, None)
    assert [a["trigger"] for a in now["attempts"]] == ["manual", "automatic"]


def test_a_resend_key_reused_elsewhere_is_refused_and_queues_nothing(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    endpoint = register(merchant, "http://127.0.0.1:9/hooks", ["payment.created"])
    merchant.pay()
    merchant.pay()
    setup.process()
    deliveries = f"{ENDPOINTS}/{endpoint['id']}/deliveries"
    one, two = merchant.get(deliveries).json()["data"]
    key = new_key()

    first = merchant.post(f"{deliveries}/{one['id']}/resend", Idempotency_Key=key)
    other = merchant.post(f"{deliveries}/{two['id']}/resend", Idempotency_Key=key)
    enabled = merchant.post(f"{ENDPOINTS}/{endpoint['id']}/enable", Idempotency_Key=key)

    assert first.status_code == 202, first.text
    for refused in (other, enabled):
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/idempotency_key_reused")
    assert merchant.get(f"{deliveries}/{two['id']}").json()["resend_requested"] is None


def test_delivery_lists_page_newest_first_and_filter_by_status(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    endpoint = register(merchant, "http://127.0.0.1:9/closed", ["payment.created"])
    for _ in range(3):
        merchant.pay()
    setup.process()
    path = f"{ENDPOINTS}/{endpoint['id']}/deliveries"

    first = merchant.get(path, limit=2).json()
    rest = merchant.get(path, limit=2, starting_after=first["data"][-1]["id"]).json()

    assert (len(first["data"]), first["has_more"]) == (2, True)
    assert (len(rest["data"]), rest["has_more"]) == (1, False)
    ids = [d["id"] for d in first["data"] + rest["data"]]
    assert len(set(ids)) == 3
    assert len(merchant.get(path, status="pending").json()["data"]) == 3
    assert merchant.get(path, status="succeeded").json()["data"] == []


def test_rotating_the_secret_signs_with_both_secrets_for_a_while(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    with Receiver() as receiver:
        endpoint = register(merchant, receiver.url, ["payment.created"])
        rotated = merchant.post(f"{ENDPOINTS}/{endpoint['id']}/rotate_secret").json()
        merchant.pay()
        setup.process()
        setup.deliver_until(lambda: len(receiver.delivered()) == 1)

    assert rotated["secret"] != endpoint["secret"]
    received = receiver.delivered()[0]
    for secret in (endpoint["secret"], rotated["secret"]):
        assert verify(received.body, received.headers["paysource-signature"], secret)


def test_a_replayed_rotation_rotates_once_and_shows_that_rotations_secret(
    setup: Setup,
) -> None:
    merchant = admin(setup.client).merchant()
    endpoint = register(merchant, "http://127.0.0.1:9/hooks")
    path = f"{ENDPOINTS}/{endpoint['id']}/rotate_secret"
    key = new_key()

    first = merchant.post(path, Idempotency_Key=key)
    again = merchant.post(path, Idempotency_Key=key)
    unkeyed = merchant.post(path)  # a new rotation: the replay above was not one
    later = merchant.post(path, Idempotency_Key=key)

    assert (first.status_code, again.status_code, later.status_code) == (200, 200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert first.json()["secret"] != endpoint["secret"]
    assert again.json() == first.json()
    # Still that rotation's answer after another rotation, which the replays did not undo.
    assert later.json() == first.json()
    assert unkeyed.json()["secret"] not in (endpoint["secret"], first.json()["secret"])
    assert generation(setup, endpoint) == 3  # created, the keyed rotation, the unkeyed one


def test_a_rotation_key_reused_elsewhere_is_refused_and_rotates_nothing(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    one = register(merchant, "http://127.0.0.1:9/one")
    two = register(merchant, "http://127.0.0.1:9/two")
    key = new_key()

    first = merchant.post(f"{ENDPOINTS}/{one['id']}/rotate_secret", Idempotency_Key=key)
    other = merchant.post(f"{ENDPOINTS}/{two['id']}/rotate_secret", Idempotency_Key=key)
    created = merchant.post(
        ENDPOINTS, {"url": "http://127.0.0.1:9/three", "events": ["*"]}, Idempotency_Key=key
    )

    assert first.status_code == 200
    for refused in (other, created):
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/idempotency_key_reused")
    assert generation(setup, two) == 1


def test_a_deleted_endpoint_is_gone(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    endpoint = register(merchant, "http://127.0.0.1:9/hooks")

    deleted = merchant.client.delete(
        f"{ENDPOINTS}/{endpoint['id']}", headers={"Authorization": f"Bearer {merchant.key}"}
    )

    assert deleted.status_code == 200
    assert deleted.json()["status"] == "deleted"
    assert merchant.get(f"{ENDPOINTS}/{endpoint['id']}").status_code == 404
    setup.process()
    assert merchant.get(ENDPOINTS).json()["data"] == []


def test_a_disabled_endpoint_shows_why_and_can_be_enabled(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    endpoint = register(merchant, "http://127.0.0.1:9/hooks")
    cell = setup.container.router.all()[0]
    endpoint_id = decode_prefixed(ENDPOINT_PREFIX, endpoint["id"], "endpoint")
    setup.webhooks.for_cell(cell).endpoints.disable(
        endpoint_id, reason="down", meta=Meta.system("delivery")
    )

    shown = merchant.get(f"{ENDPOINTS}/{endpoint['id']}").json()
    assert (shown["status"], shown["disabled_reason"]) == ("disabled", "down")
    assert shown["disabled_at"] is not None
    enabled = merchant.post(f"{ENDPOINTS}/{endpoint['id']}/enable")
    assert (enabled.status_code, enabled.json()["status"]) == (200, "enabled")
    assert merchant.post(f"{ENDPOINTS}/{endpoint['id']}/enable").status_code == 409


def disable(setup: Setup, endpoint: dict[str, Any]) -> None:
    """As the delivery workers do when every attempt fails for too long."""
    cell = setup.container.router.all()[0]
    endpoint_id = decode_prefixed(ENDPOINT_PREFIX, endpoint["id"], "endpoint")
    setup.webhooks.for_cell(cell).endpoints.disable(
        endpoint_id, reason="down", meta=Meta.system("delivery")
    )


def stored_status(setup: Setup, endpoint: dict[str, Any]) -> str:
    stored = setup.container.router.all()[0].store.get(
        decode_prefixed(ENDPOINT_PREFIX, endpoint["id"], "endpoint"), WebhookEndpoint
    )
    assert stored is not None
    return str(stored.status)


def test_a_replayed_enable_answers_the_first_enable_and_enables_nothing(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    endpoint = register(merchant, "http://127.0.0.1:9/hooks")
    path = f"{ENDPOINTS}/{endpoint['id']}/enable"
    key = new_key()
    disable(setup, endpoint)

    first = merchant.post(path, Idempotency_Key=key)
    again = merchant.post(path, Idempotency_Key=key)  # was 409: enabled already
    disable(setup, endpoint)
    later = merchant.post(path, Idempotency_Key=key)

    assert (first.status_code, again.status_code, later.status_code) == (200, 200, 200)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["status"] == "enabled"
    assert again.json() == first.json()
    # Still that request's answer; the replay did not enable the endpoint again.
    assert later.json() == first.json()
    assert stored_status(setup, endpoint) == "disabled"


def test_an_enable_key_reused_elsewhere_is_refused_and_enables_nothing(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    one = register(merchant, "http://127.0.0.1:9/one")
    two = register(merchant, "http://127.0.0.1:9/two")
    disable(setup, one)
    disable(setup, two)
    key = new_key()

    first = merchant.post(f"{ENDPOINTS}/{one['id']}/enable", Idempotency_Key=key)
    other = merchant.post(f"{ENDPOINTS}/{two['id']}/enable", Idempotency_Key=key)
    rotated = merchant.post(f"{ENDPOINTS}/{one['id']}/rotate_secret", Idempotency_Key=key)

    assert first.status_code == 200, first.text
    for refused in (other, rotated):
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/idempotency_key_reused")
    assert stored_status(setup, two) == "disabled"
    assert generation(setup, one) == 1


def test_a_merchant_cannot_see_or_touch_another_merchants_webhooks(setup: Setup) -> None:
    staff = admin(setup.client)
    a, b = staff.merchant("A"), staff.merchant("B")
    endpoint = register(a, "http://127.0.0.1:9/a", ["payment.created"])
    own = register(b, "http://127.0.0.1:9/b", ["payment.created"])
    a.pay()
    setup.process()
    [delivery] = a.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries").json()["data"]
    theirs = f"{ENDPOINTS}/{endpoint['id']}"

    for response in (
        b.get(theirs),
        b.get(f"{theirs}/deliveries"),
        b.get(f"{theirs}/deliveries/{delivery['id']}"),
        b.post(f"{theirs}/deliveries/{delivery['id']}/resend"),
        b.post(f"{ENDPOINTS}/{own['id']}/deliveries/{delivery['id']}/resend"),
        b.get(f"{ENDPOINTS}/{own['id']}/deliveries", starting_after=delivery["id"]),
        b.post(f"{theirs}/enable"),
        b.post(f"{theirs}/rotate_secret"),
        b.client.delete(theirs, headers={"Authorization": f"Bearer {b.key}"}),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["type"].endswith("/not_found")
    assert [e["id"] for e in b.get(ENDPOINTS).json()["data"]] == [own["id"]]
    assert b.get(f"{ENDPOINTS}/{own['id']}/deliveries").json()["data"] == []
    assert staff.get(theirs).status_code == 403, "webhooks are the merchant's own business"
    assert a.get(theirs).json()["status"] == "enabled", "nothing changed"


def test_a_17th_endpoint_is_refused_409_as_both_docs_say(setup: Setup) -> None:
    merchant = admin(setup.client).merchant()
    endpoints = [register(merchant, f"http://127.0.0.1:9/hooks/{n}") for n in range(16)]
    # No outbox runs here: the cap is kept by the log, not by the outbox's table.
    refused = merchant.post(ENDPOINTS, {"url": "http://127.0.0.1:9/hooks/16", "events": ["*"]})
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == "https://paysource.dev/problems/webhook_endpoint_limit"

    deleted = setup.client.delete(
        f"{ENDPOINTS}/{endpoints[3]['id']}", headers={"Authorization": f"Bearer {merchant.key}"}
    )
    assert deleted.status_code == 200, deleted.text
    register(merchant, "http://127.0.0.1:9/hooks/again")  # the deleted one's place
    again = merchant.post(ENDPOINTS, {"url": "http://127.0.0.1:9/hooks/17", "events": ["*"]})
    assert again.status_code == 409, again.text
    assert (
        admin(setup.client)
        .merchant()
        .post(ENDPOINTS, {"url": "http://127.0.0.1:9/other", "events": ["*"]})
        .status_code
        == 201
    ), "another merchant has places of its own"
