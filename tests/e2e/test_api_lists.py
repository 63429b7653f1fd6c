"""Lists: filters by time and metadata, paging both ways, and no parameter ignored
(issue 14, item 11)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from tests.helpers import Api, admin, drain, new_key

UNKNOWN = "https://paysource.dev/problems/unknown_parameter"


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant("Acme")


def paid(merchant: Api, container: Container, count: int, **fields: Any) -> list[str]:
    """`count` payments, oldest first."""
    made = []
    for _ in range(count):
        response = merchant.pay(1000, **fields)
        assert response.status_code == 202, response.text
        made.append(response.json()["id"])
    drain(container)
    return made


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/payments", {"metadata[order]": "42", "colour": "red"}),
        ("/v1/refunds", {"metadata[order]": "42"}),
        ("/v1/settlements", {"ending_befor": "stl_x"}),
        ("/v1/customers", {"created[since]": "2026-01-01T00:00:00Z"}),
        ("/v1/balance", {"currency": "USD"}),
    ],
)
def test_an_unknown_query_parameter_is_refused_by_name(
    merchant: Api, path: str, params: dict[str, str]
) -> None:
    response = merchant.get(path, **params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == UNKNOWN
    known = {"metadata[order]"} if path in ("/v1/payments", "/v1/customers") else set()
    assert set(body["parameters"]) == set(params) - known
    for name in body["parameters"]:
        assert name in body["detail"]


def test_an_unknown_parameter_on_a_single_object_is_refused(
    merchant: Api, container: Container
) -> None:
    (payment,) = paid(merchant, container, 1)
    response = merchant.get(f"/v1/payments/{payment}", expand="customer")
    assert response.status_code == 400
    assert response.json()["parameters"] == ["expand"]


def test_a_parameter_name_like_a_card_number_is_not_echoed(merchant: Api) -> None:
    response = merchant.get("/v1/payments", **{"4242424242424242": "1"})
    assert response.status_code == 400
    assert "4242424242424242" not in response.text


def test_a_metadata_filter_named_like_a_card_number_is_not_echoed(merchant: Api) -> None:
    response = merchant.get("/v1/payments", **{"metadata[4111111111111111]": "x" * 501})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://paysource.dev/problems/bad_request"
    assert "4111111111111111" not in response.text


def test_created_bounds_select_payments_by_time(merchant: Api, container: Container) -> None:
    made = paid(merchant, container, 3)
    times = {row["id"]: row["created"] for row in merchant.get("/v1/payments").json()["data"]}
    middle = times[made[1]]
    newest_first = made[::-1]
    assert ids(merchant.get("/v1/payments", **{"created[gte]": middle})) == newest_first[:2]
    assert ids(merchant.get("/v1/payments", **{"created[gt]": middle})) == newest_first[:1]
    assert ids(merchant.get("/v1/payments", **{"created[lte]": middle})) == newest_first[1:]
    assert ids(merchant.get("/v1/payments", **{"created[lt]": middle})) == newest_first[2:]
    both = {"created[gt]": times[made[0]], "created[lt]": times[made[2]]}
    assert ids(merchant.get("/v1/payments", **both)) == [made[1]]


def test_created_takes_unix_seconds_and_refuses_a_time_without_offset(merchant: Api) -> None:
    assert merchant.get("/v1/payments", **{"created[gte]": "1700000000"}).status_code == 200
    naive = merchant.get("/v1/payments", **{"created[gte]": "2026-01-01T00:00:00"})
    assert naive.status_code == 422, naive.text
    assert naive.headers["content-type"] == "application/problem+json"


def test_created_in_unix_seconds_means_seconds_however_large(
    merchant: Api, container: Container
) -> None:
    (made,) = paid(merchant, container, 1)
    after_2600 = {"created[gte]": "20000000001"}  # pydantic alone took it for milliseconds
    assert ids(merchant.get("/v1/payments", **after_2600)) == []
    assert ids(merchant.get("/v1/payments", **{"created[lt]": "20000000001"})) == [made]
    assert ids(merchant.get("/v1/payments", **{"created[lt]": "1700000000.5"})) == []
    beyond = merchant.get("/v1/payments", **{"created[gte]": "99999999999999"})
    assert beyond.status_code == 422, beyond.text
    assert beyond.json()["type"] == "https://paysource.dev/problems/validation_error"


def test_metadata_filters_select_payments_and_customers(
    merchant: Api, container: Container
) -> None:
    (order_42,) = paid(merchant, container, 1, metadata={"order": "42", "shop": "a"})
    paid(merchant, container, 1, metadata={"order": "43", "shop": "a"})
    assert ids(merchant.get("/v1/payments", **{"metadata[order]": "42"})) == [order_42]
    both = {"metadata[order]": "42", "metadata[shop]": "a"}
    assert ids(merchant.get("/v1/payments", **both)) == [order_42]
    assert ids(merchant.get("/v1/payments", **{"metadata[order]": "44"})) == []
    made = merchant.post("/v1/customers", {"name": "Ada", "metadata": {"crm": "7"}})
    merchant.post("/v1/customers", {"name": "Bob", "metadata": {"crm": "8"}})
    drain(container)
    assert ids(merchant.get("/v1/customers", **{"metadata[crm]": "7"})) == [made.json()["id"]]


def test_ending_before_pages_back_towards_the_newest(merchant: Api, container: Container) -> None:
    made = paid(merchant, container, 5)  # oldest first
    page = merchant.get("/v1/payments", limit=2, ending_before=made[0]).json()
    assert [row["id"] for row in page["data"]] == [made[2], made[1]]
    assert page["has_more"] is True
    last = merchant.get("/v1/payments", limit=2, ending_before=made[2]).json()
    assert ([row["id"] for row in last["data"]], last["has_more"]) == ([made[4], made[3]], False)
    both = merchant.get("/v1/payments", starting_after=made[4], ending_before=made[0])
    assert both.status_code == 400


def test_refunds_and_customers_are_listed_newest_first(merchant: Api, container: Container) -> None:
    first, second = paid(merchant, container, 2)
    refunds = [
        merchant.post("/v1/refunds", {"payment": p, "amount": 100}, Idempotency_Key=new_key())
        for p in (first, second)
    ]
    drain(container)
    listed = merchant.get("/v1/refunds").json()
    assert [row["id"] for row in listed["data"]] == [r.json()["id"] for r in refunds[::-1]]
    assert listed["data"][0] == merchant.get(f"/v1/refunds/{refunds[1].json()['id']}").json()
    customers = [merchant.post("/v1/customers", {"name": n}).json()["id"] for n in "AB"]
    drain(container)
    listed = merchant.get("/v1/customers", limit=1).json()
    assert ([row["id"] for row in listed["data"]], listed["has_more"]) == ([customers[1]], True)
    older = merchant.get("/v1/customers", starting_after=customers[1]).json()
    assert [row["id"] for row in older["data"]] == [customers[0]]
    assert older["data"][0] == merchant.get(f"/v1/customers/{customers[0]}").json()


def test_settlements_take_the_same_filters(merchant: Api) -> None:
    response = merchant.get("/v1/settlements", **{"created[gte]": "2026-01-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []
