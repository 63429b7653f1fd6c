"""A replay of a `Prefer: wait` payment creation gives the first answer's status and
body, whatever the payment became since, whether Redis still holds that answer
(issue 14, item 11) and whichever API (REST or GraphQL) sends the replay."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from paysource.entrypoints.worker import Worker
from tests.graphql.helpers import Gql
from tests.helpers import Api, admin, drain, new_key

MANUAL = {"amount": 1000, "currency": "USD", "source": "tok_visa", "capture_method": "manual"}
CREATE = (
    "mutation($input: CreatePaymentInput!, $key: String!) {"
    " createPayment(input: $input, idempotencyKey: $key) { __typename"
    " ... on PaymentPayload { replayed payment { id status } } } }"
)


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


@pytest.fixture(params=["redis", "postgres"])
def before_retry(request: pytest.FixtureRequest, container: Container) -> Callable[[], None]:
    """Nothing (Redis answers the retry), or Redis loses everything (Postgres must)."""
    if request.param == "redis":
        return lambda: None

    def forget_everything() -> None:
        with redis.Redis.from_url(str(container.settings.redis_url)) as cache:
            cache.flushall()

    return forget_everything


@pytest.fixture
def worker(container: Container) -> Iterator[Worker]:
    running = Worker(container)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def replay(merchant: Api, body: dict[str, Any], key: str, **headers: str) -> httpx.Response:
    return merchant.post("/v1/payments", body, Idempotency_Key=key, **headers)


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("prefer", [{"Prefer": "wait=8"}, {}], ids=["waiting", "plain"])
def test_a_replay_after_a_capture_still_answers_the_waited_hold(
    merchant: Api, before_retry: Callable[[], None], prefer: dict[str, str]
) -> None:
    key = new_key()
    first = replay(merchant, MANUAL, key, Prefer="wait=8")
    assert (first.status_code, first.json()["status"]) == (200, "requires_capture"), first.text
    captured = merchant.post(f"/v1/payments/{first.json()['id']}/capture")
    assert captured.json()["status"] == "succeeded"
    before_retry()
    again = replay(merchant, MANUAL, key, **prefer)
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.usefixtures("worker")
def test_a_graphql_replay_of_a_waited_creation_answers_as_rest_does(
    client: TestClient, merchant: Api, before_retry: Callable[[], None]
) -> None:
    key = new_key()
    first = replay(merchant, MANUAL, key, Prefer="wait=8")
    assert (first.status_code, first.json()["status"]) == (200, "requires_capture"), first.text
    assert merchant.post(f"/v1/payments/{first.json()['id']}/capture").status_code == 200
    before_retry()
    manual = {"amount": "1000", "currency": "USD", "source": "tok_visa", "captureMethod": "MANUAL"}
    again = Gql(client, merchant.key)(CREATE, input=manual, key=key)["createPayment"]
    assert again == {
        "__typename": "PaymentPayload",
        "replayed": True,
        "payment": {"id": first.json()["id"], "status": "REQUIRES_CAPTURE"},
    }


def test_a_wait_that_ran_out_is_replayed_as_processing(
    merchant: Api, container: Container, before_retry: Callable[[], None]
) -> None:
    key = new_key()
    first = replay(merchant, MANUAL, key, Prefer="wait=1")  # no worker: still processing
    assert (first.status_code, first.json()["status"]) == (202, "processing")
    drain(container)
    assert merchant.get(f"/v1/payments/{first.json()['id']}").json()["status"] != "processing"
    before_retry()
    again = replay(merchant, MANUAL, key, Prefer="wait=1")
    assert (again.status_code, again.json()) == (202, first.json())
    assert again.elapsed.total_seconds() < 1  # a replay answers at once: it does not wait


@pytest.mark.usefixtures("worker")
def test_a_waiting_replay_of_a_plain_creation_answers_as_the_creation_did(
    merchant: Api, container: Container, before_retry: Callable[[], None]
) -> None:
    key = new_key()
    first = replay(merchant, MANUAL, key)
    assert (first.status_code, first.json()["status"]) == (202, "processing")
    drain(container)
    before_retry()
    again = replay(merchant, MANUAL, key, Prefer="wait=5")
    assert (again.status_code, again.json()) == (202, first.json())
