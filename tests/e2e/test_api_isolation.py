"""Merchants cannot see or touch each other's objects (no BOLA), and staff keys read
everything but change nothing.

Another merchant's id must be indistinguishable from an id that does not exist: the
same status and problem, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from devtools.localservices import LocalPostgres, LocalRedis
from paysource.bootstrap import Container
from paysource.entrypoints.http.app import create_app
from tests.conftest import module_container
from tests.helpers import Api, admin, drain, new_key

UNKNOWN_HEX = "0" * 31 + "1"


@pytest.fixture(scope="module")
def container(
    postgres: LocalPostgres, template_url: str, redis_server: LocalRedis
) -> Iterator[Container]:
    """One wired app for the module: the world below is built once and every test
    checks that its refused requests left it untouched."""
    with module_container(postgres, redis_server, "test_api_isolation") as built:
        yield built


@pytest.fixture(scope="module")
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as test_client:
        yield test_client


@dataclass(frozen=True)
class World:
    """Merchant A with one object of every kind; merchant B, the intruder."""

    a: Api
    b: Api
    customer: str
    captured: str  # A's succeeded payment, partly refunded
    held: str  # A's manual payment in requires_capture
    refund: str

    def ids(self) -> dict[str, str]:
        return {
            "payment": self.captured,
            "held": self.held,
            "refund": self.refund,
            "customer": self.customer,
        }


def created(response: httpx.Response) -> str:
    assert response.status_code in (201, 202), response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module")
def world(client: TestClient, container: Container) -> World:
    a = admin(client).merchant("Acme")
    b = admin(client).merchant("Bobs")
    customer = created(a.post("/v1/customers", {"name": "Ada"}))
    captured = created(a.pay(2000, customer=customer))
    held = created(a.pay(1500, customer=customer, capture_method="manual"))
    drain(container)
    refund = created(
        a.post("/v1/refunds", {"payment": captured, "amount": 300}, Idempotency_Key=new_key())
    )
    drain(container)
    return World(a, b, customer, captured, held, refund)


def snapshot(world: World) -> dict[str, Any]:
    """Everything A can read about its objects."""
    paths = [
        f"/v1/payments/{world.captured}",
        f"/v1/payments/{world.held}",
        f"/v1/payments/{world.captured}/events",
        f"/v1/refunds/{world.refund}",
        f"/v1/customers/{world.customer}",
    ]
    state = {}
    for path in paths:
        response = world.a.get(path)
        assert response.status_code == 200, response.text
        state[path] = response.json()
    return state


@contextmanager
def untouched(world: World, container: Container) -> Iterator[None]:
    """A's objects read the same after the block, and the event log did not grow."""
    before, head = snapshot(world), container.router.directory.store.head()
    yield
    assert container.router.directory.store.head() == head, "a refused request wrote events"
    assert snapshot(world) == before


def problem_shape(response: httpx.Response) -> tuple[int, str, str, str, str]:
    body = response.json()
    content_type = response.headers["content-type"]
    return (response.status_code, content_type, body["type"], body["title"], body["detail"])


NOT_FOUND = "https://paysource.dev/problems/not_found"

READS = {
    "payment": ("/v1/payments/{}", "payment", "pay"),
    "payment-events": ("/v1/payments/{}/events", "payment", "pay"),
    "refund": ("/v1/refunds/{}", "refund", "re"),
    "customer": ("/v1/customers/{}", "customer", "cus"),
}


@pytest.mark.parametrize("read", list(READS))
def test_another_merchants_object_reads_exactly_like_an_unknown_one(
    world: World, container: Container, read: str
) -> None:
    template, kind, prefix = READS[read]
    with untouched(world, container):
        theirs = world.b.get(template.format(world.ids()[kind]))
        unknown = world.b.get(template.format(f"{prefix}_{UNKNOWN_HEX}"))
    assert problem_shape(theirs)[:3] == (404, "application/problem+json", NOT_FOUND)
    assert problem_shape(theirs) == problem_shape(unknown)


@pytest.mark.parametrize("action", ["capture", "cancel"])
@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "unkeyed"])
def test_another_merchant_cannot_capture_or_cancel_a_payment(
    world: World, container: Container, action: str, keyed: bool
) -> None:
    headers = {"Idempotency_Key": new_key()} if keyed else {}
    with untouched(world, container):
        theirs = world.b.post(f"/v1/payments/{world.held}/{action}", **headers)
        unknown = world.b.post(f"/v1/payments/pay_{UNKNOWN_HEX}/{action}", **headers)
    assert problem_shape(theirs)[:3] == (404, "application/problem+json", NOT_FOUND)
    assert problem_shape(theirs) == problem_shape(unknown)
    assert world.a.get(f"/v1/payments/{world.held}").json()["status"] == "requires_capture"


@pytest.mark.parametrize("amount", [None, 100])
def test_another_merchant_cannot_refund_a_payment(
    world: World, container: Container, amount: int | None
) -> None:
    body: dict[str, Any] = {"payment": world.captured}
    if amount is not None:
        body["amount"] = amount
    with untouched(world, container):
        theirs = world.b.post("/v1/refunds", body, Idempotency_Key=new_key())
        unknown = world.b.post(
            "/v1/refunds", {**body, "payment": f"pay_{UNKNOWN_HEX}"}, Idempotency_Key=new_key()
        )
    assert problem_shape(theirs)[:3] == (404, "application/problem+json", NOT_FOUND)
    assert problem_shape(theirs) == problem_shape(unknown)


def test_another_merchant_cannot_charge_a_customer(world: World, container: Container) -> None:
    with untouched(world, container):
        theirs = world.b.pay(1000, customer=world.customer)
        unknown = world.b.pay(1000, customer=f"cus_{UNKNOWN_HEX}")
    assert problem_shape(theirs)[:3] == (404, "application/problem+json", NOT_FOUND)
    assert problem_shape(theirs) == problem_shape(unknown)


def test_filtering_by_another_merchants_customer_lists_nothing(
    client: TestClient, world: World, container: Container
) -> None:
    intruder = admin(client).merchant("Carol")
    created(intruder.pay(1000))
    drain(container)
    listed = intruder.get("/v1/payments", customer=world.customer)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"object": "list", "data": [], "has_more": False}


def test_a_merchants_list_holds_only_its_own_payments(
    client: TestClient, world: World, container: Container
) -> None:
    assert world.captured  # A's payments share the database
    merchant = admin(client).merchant("Carol")
    own = created(merchant.pay(1000))
    drain(container)
    listed = merchant.get("/v1/payments", limit=100).json()
    assert [payment["id"] for payment in listed["data"]] == [own]


def test_paging_after_another_merchants_payment_reads_like_an_unknown_cursor(
    client: TestClient, container: Container
) -> None:
    a = admin(client).merchant("Acme")
    b = admin(client).merchant("Bobs")
    created(b.pay(100))  # older than A's payment
    theirs = created(a.pay(200))
    created(b.pay(300))  # newer than A's payment
    drain(container)
    after_theirs = b.get("/v1/payments", starting_after=theirs)
    after_unknown = b.get("/v1/payments", starting_after=f"pay_{UNKNOWN_HEX}")
    assert after_theirs.status_code in (200, 404), after_theirs.text
    assert without_request_id(after_theirs) == without_request_id(after_unknown)


LISTS = {"customers": "customer", "refunds": "refund", "payments": "payment"}


@pytest.mark.parametrize("path", list(LISTS))
def test_a_merchants_list_never_holds_another_merchants_objects(
    world: World, container: Container, path: str
) -> None:
    created(world.b.post("/v1/customers", {"name": "Bo", "metadata": {"tier": "gold"}}))
    drain(container)
    theirs = world.b.get(f"/v1/{path}", limit=100)
    assert theirs.status_code == 200, theirs.text
    assert world.ids()[LISTS[path]] not in {row["id"] for row in theirs.json()["data"]}
    ours = world.a.get(f"/v1/{path}", limit=100).json()["data"]
    assert world.ids()[LISTS[path]] in {row["id"] for row in ours}
    assert {row["merchant"] for row in ours} == {ours[0]["merchant"]}


@pytest.mark.parametrize("path", list(LISTS))
@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
def test_paging_from_another_merchants_object_reads_like_an_unknown_cursor(
    world: World, path: str, cursor: str
) -> None:
    theirs_id = world.ids()[LISTS[path]]
    unknown_id = f"{theirs_id.split('_')[0]}_{UNKNOWN_HEX}"
    theirs = world.b.get(f"/v1/{path}", **{cursor: theirs_id})
    unknown = world.b.get(f"/v1/{path}", **{cursor: unknown_id})
    assert theirs.status_code == 404, theirs.text
    assert without_request_id(theirs) == without_request_id(unknown)


def test_a_metadata_filter_never_reaches_another_merchants_customers(
    world: World, container: Container
) -> None:
    created(world.a.post("/v1/customers", {"name": "Al", "metadata": {"vip": "yes"}}))
    drain(container)
    assert world.a.get("/v1/customers", **{"metadata[vip]": "yes"}).json()["data"]
    listed = world.b.get("/v1/customers", **{"metadata[vip]": "yes"})
    assert listed.json() == {"object": "list", "data": [], "has_more": False}


def without_request_id(response: httpx.Response) -> tuple[int, Any]:
    body = response.json()
    body.pop("request_id", None)
    return response.status_code, body


def test_merchants_using_the_same_idempotency_key_get_separate_payments(world: World) -> None:
    key = new_key()
    first = world.a.pay(1000, key=key)
    second = world.b.pay(1000, key=key)
    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert first.json()["id"] != second.json()["id"]
    assert second.json()["merchant"] != first.json()["merchant"]
    assert "Idempotent-Replayed" not in second.headers


# Staff keys ---------------------------------------------------------------------------


def staff_key(client: TestClient, role: str) -> Api:
    response = admin(client).post("/v1/api_keys", {"role": role, "label": f"{role} desk"})
    assert response.status_code == 201, response.text
    assert response.json()["role"] == role
    return Api(client, response.json()["api_key"])


@pytest.mark.parametrize("role", ["finance", "auditor"])
def test_a_staff_key_reads_any_merchants_objects(
    client: TestClient, world: World, container: Container, role: str
) -> None:
    staff = staff_key(client, role)
    with untouched(world, container):
        mine = snapshot(world)
        for path, body in mine.items():
            response = staff.get(path)
            assert response.status_code == 200, f"{path}: {response.text}"
            assert response.json() == body, path


@pytest.mark.parametrize("role", ["finance", "auditor"])
def test_a_staff_key_lists_every_merchants_payments(
    client: TestClient, world: World, container: Container, role: str
) -> None:
    bs = created(world.b.pay(1000))
    drain(container)
    listed = staff_key(client, role).get("/v1/payments", limit=100).json()
    assert {world.captured, world.held, bs} <= {payment["id"] for payment in listed["data"]}


@pytest.mark.parametrize("role", ["finance", "auditor"])
@pytest.mark.parametrize(
    "request_of",
    [
        lambda w: ("/v1/payments", {"amount": 1000, "currency": "USD", "source": "tok_visa"}),
        lambda w: (f"/v1/payments/{w.held}/capture", {}),
        lambda w: (f"/v1/payments/{w.held}/cancel", {}),
        lambda w: ("/v1/refunds", {"payment": w.captured, "amount": 100}),
        lambda w: ("/v1/customers", {"name": "Eve"}),
        lambda w: ("/v1/merchants", {"name": "Shell Co"}),
        lambda w: ("/v1/api_keys", {"role": "finance"}),
    ],
    ids=["payment", "capture", "cancel", "refund", "customer", "merchant", "api-key"],
)
def test_a_staff_key_cannot_change_anything(
    client: TestClient, world: World, container: Container, role: str, request_of: Any
) -> None:
    path, body = request_of(world)
    staff = staff_key(client, role)
    with untouched(world, container):
        response = staff.post(path, body, Idempotency_Key=new_key())
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://paysource.dev/problems/forbidden"
