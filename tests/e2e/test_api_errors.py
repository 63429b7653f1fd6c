"""Bad requests and illegal commands through HTTP: each one answers an RFC 9457 problem
with a stable `type`, never a 500, and leaves the event store exactly as it was."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import psycopg_pool
import pytest
from fastapi.testclient import TestClient

from devtools.localservices import LocalPostgres, LocalRedis
from paysource.adapters.postgres.datastore import OutageGate
from paysource.adapters.postgres.health import PoolHealth
from paysource.bootstrap import Container, build_container
from paysource.config import Settings
from paysource.entrypoints.http.app import create_app
from tests.conftest import ADMIN_KEY, module_container
from tests.helpers import Api, admin, bearer, drain, new_key, probes_fail, wait_for

PAN = "4242424242424242"
UNKNOWN_HEX = "0" * 31 + "1"
LIMIT = 64 * 1024  # the default max_body_bytes


@pytest.fixture(scope="module")
def container(
    postgres: LocalPostgres, template_url: str, redis_server: LocalRedis
) -> Iterator[Container]:
    """One wired app for the whole module, over its own database.

    Rejected requests write nothing (each test checks), and every test makes its own
    merchant and payments, so sharing the app keeps tests independent while sparing
    ~0.3 s of database and pool set-up per test. The rate limit is raised because a
    hundred fast tests would otherwise share one second's budget of the admin key.
    """
    with module_container(postgres, redis_server, "test_api_errors") as built:
        yield built


@pytest.fixture(scope="module")
def client(container: Container) -> Iterator[TestClient]:
    # A 500 must reach the test as a response, as a client would see it.
    with TestClient(create_app(container), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


@contextmanager
def nothing_written(container: Container) -> Iterator[None]:
    """The block may send any request: the event log must not grow."""
    store = container.router.directory.store
    before = store.head()
    yield
    assert store.head() == before, "a rejected request wrote events"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem of `status` and `code`; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://paysource.dev/problems/{code}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def fields_of(problem: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem["errors"]]


def post_raw(
    client: TestClient, merchant: Api, path: str, content: bytes | str, **headers: str
) -> httpx.Response:
    return client.post(
        path,
        content=content,
        headers={
            **bearer(merchant.key),
            "Content-Type": "application/json",
            "Idempotency-Key": new_key(),
            **headers,
        },
    )


def payment_body(amount: str = "1000", extra: str = "") -> str:
    """A payment body as raw JSON text, so the amount's JSON spelling is exact."""
    return f'{{"amount": {amount}, "currency": "USD", "source": "tok_visa"{extra}}}'


def manual_payment(merchant: Api, container: Container) -> str:
    """A manual-capture payment, taken through the worker to `requires_capture`."""
    created = merchant.pay(1000, capture_method="manual")
    assert created.status_code == 202, created.text
    drain(container)
    return str(created.json()["id"])


# Problem documents -----------------------------------------------------------------


def test_a_problem_carries_the_request_id_the_client_sent(
    client: TestClient, merchant: Api
) -> None:
    response = client.get(
        f"/v1/payments/pay_{UNKNOWN_HEX}",
        headers={**bearer(merchant.key), "X-Request-Id": "client-trace.42"},
    )
    assert assert_problem(response, 404, "not_found")["request_id"] == "client-trace.42"


def test_an_unknown_route_is_a_not_found_problem(merchant: Api) -> None:
    assert_problem(merchant.get("/v1/nothing-here"), 404, "not_found")


def test_a_wrong_method_is_a_method_not_allowed_problem(client: TestClient, merchant: Api) -> None:
    response = client.delete("/v1/payments", headers=bearer(merchant.key))
    assert_problem(response, 405, "method_not_allowed")


# Bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", ['{"amount": ', "{'amount': 1}", '{"amount": 1000,}', "\xff\xfe"]
)
def test_malformed_json_is_refused_with_400_and_writes_nothing(
    client: TestClient, merchant: Api, container: Container, content: str
) -> None:
    with nothing_written(container):
        response = post_raw(client, merchant, "/v1/payments", content.encode("latin-1"))
    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("content", ["[]", '"pay me"', "null", "42"])
def test_a_body_that_is_not_a_json_object_is_a_validation_problem(
    client: TestClient, merchant: Api, container: Container, content: str
) -> None:
    with nothing_written(container):
        response = post_raw(client, merchant, "/v1/payments", content)
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    "amount",
    ["10.0", "1e3", '"10"', "true", "null", "0", "-5", "1000000000001", "1e400", "NaN"],
)
def test_an_amount_that_is_not_a_json_integer_in_range_is_refused(
    client: TestClient, merchant: Api, container: Container, amount: str
) -> None:
    with nothing_written(container):
        response = post_raw(client, merchant, "/v1/payments", payment_body(amount))
    problem = assert_problem(response, 422, "validation_error")
    assert fields_of(problem) == ["amount"]


@pytest.mark.parametrize("amount", [1, 10**12])
def test_amounts_at_the_bounds_are_accepted(merchant: Api, amount: int) -> None:
    response = merchant.pay(amount)
    assert response.status_code == 202, response.text
    assert response.json()["amount"] == amount


@pytest.mark.parametrize("depth", [100, 600, 5000])
def test_deeply_nested_json_is_a_client_error_with_a_stable_type(
    client: TestClient, merchant: Api, container: Container, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    with nothing_written(container):
        response = post_raw(
            client, merchant, "/v1/payments", payment_body(extra=f', "metadata": {nested}')
        )
    assert response.status_code in (400, 422), response.text
    expected = "malformed_json" if response.status_code == 400 else "validation_error"
    assert_problem(response, response.status_code, expected)


@pytest.mark.parametrize(
    "fields",
    [{"description": "gift\x00wrap"}, {"metadata": {"note": "a\x00b"}}],
    ids=["description", "metadata"],
)
def test_a_nul_character_in_payment_text_cannot_stall_the_read_model(
    settings: Settings, fields: dict[str, Any]
) -> None:
    # Its own app and database: if the bug is present it wedges the projection.
    fresh = build_container(settings)
    try:
        with TestClient(create_app(fresh)) as own_client:
            merchant = admin(own_client).merchant()
            response = merchant.pay(1000, **fields)
            assert_problem(response, 422, "validation_error")
            drain(fresh)
            assert merchant.get("/v1/payments").json()["data"] == []
    finally:
        fresh.close()


def test_an_unknown_body_field_is_refused_and_named(merchant: Api, container: Container) -> None:
    with nothing_written(container):
        response = merchant.pay(1000, colour="blue")
    assert fields_of(assert_problem(response, 422, "validation_error")) == ["colour"]


def test_a_missing_field_is_named_in_the_problem(
    client: TestClient, merchant: Api, container: Container
) -> None:
    with nothing_written(container):
        response = post_raw(
            client, merchant, "/v1/payments", '{"amount": 1000, "source": "tok_visa"}'
        )
    assert fields_of(assert_problem(response, 422, "validation_error")) == ["currency"]


@pytest.mark.parametrize("currency", ["XXX", "ZZZ", "XAU"])
def test_a_currency_outside_iso_4217_minor_units_is_refused(
    merchant: Api, container: Container, currency: str
) -> None:
    with nothing_written(container):
        response = merchant.pay(1000, currency=currency)
    assert fields_of(assert_problem(response, 422, "invalid_currency")) == ["currency"]


@pytest.mark.parametrize("currency", ["US", "USDX", "12$"])
def test_a_currency_that_is_not_three_letters_is_a_validation_problem(
    merchant: Api, container: Container, currency: str
) -> None:
    with nothing_written(container):
        response = merchant.pay(1000, currency=currency)
    assert fields_of(assert_problem(response, 422, "validation_error")) == ["currency"]


def test_an_unknown_card_token_is_an_invalid_source(merchant: Api, container: Container) -> None:
    with nothing_written(container):
        response = merchant.pay(1000, source="tok_nobody_issued_this")
    assert fields_of(assert_problem(response, 422, "invalid_source")) == ["source"]


@pytest.mark.parametrize(
    "fields",
    [
        {"source": PAN},
        {"description": "card 4242 4242 4242 4242 exp 12/30"},
        {"metadata": {"note": "4242-4242-4242-4242"}},
        {"metadata": {PAN: "key holds the card"}},
    ],
    ids=["source", "description", "metadata-value", "metadata-key"],
)
def test_a_card_number_anywhere_in_the_body_is_refused_and_never_echoed(
    merchant: Api, container: Container, fields: dict[str, Any]
) -> None:
    body = {"amount": 1000, "currency": "USD", "source": "tok_visa", **fields}
    with nothing_written(container):
        # A fixed request id, so any "4242" in the answer can only be an echo.
        response = merchant.post(
            "/v1/payments", body, Idempotency_Key=new_key(), X_Request_Id="card-probe"
        )
    assert_problem(response, 422, "card_number_refused")
    assert "4242" not in response.text


def test_a_card_number_is_refused_on_customers_too(merchant: Api, container: Container) -> None:
    with nothing_written(container):
        response = merchant.post("/v1/customers", {"name": "Ada", "metadata": {"card": PAN}})
    assert_problem(response, 422, "card_number_refused")
    assert PAN not in response.text


def test_a_digit_string_that_fails_luhn_is_not_taken_for_a_card_number(merchant: Api) -> None:
    response = merchant.pay(1000, description="order 4242424242424241")
    assert response.status_code == 202, response.text


def body_of_size(size: int) -> str:
    """A payment body of exactly `size` bytes (its description far too long)."""
    skeleton = payment_body(extra=', "description": ""')
    return payment_body(extra=f', "description": "{"x" * (size - len(skeleton))}"')


@pytest.mark.parametrize(
    ("size", "status", "code"),
    [(LIMIT, 422, "validation_error"), (LIMIT + 1, 413, "payload_too_large")],
    ids=["at-limit", "over-limit"],
)
def test_a_body_one_byte_over_the_limit_is_refused_with_413(
    client: TestClient, merchant: Api, container: Container, size: int, status: int, code: str
) -> None:
    content = body_of_size(size)
    assert len(content.encode()) == size
    with nothing_written(container):
        response = post_raw(client, merchant, "/v1/payments", content)
    assert_problem(response, status, code)


@pytest.mark.parametrize(
    ("size", "status", "code"),
    [(LIMIT, 422, "validation_error"), (LIMIT + 1, 413, "payload_too_large")],
    ids=["at-limit", "over-limit"],
)
def test_the_body_limit_holds_for_streamed_bodies_too(
    client: TestClient, merchant: Api, container: Container, size: int, status: int, code: str
) -> None:
    content = body_of_size(size).encode()
    chunks = (content[start : start + 1000] for start in range(0, size, 1000))
    with nothing_written(container):
        response = post_raw(client, merchant, "/v1/payments", chunks)  # type: ignore[arg-type]
    assert "content-length" not in response.request.headers
    assert_problem(response, status, code)


def test_a_streamed_body_within_the_limit_is_accepted(client: TestClient, merchant: Api) -> None:
    content = payment_body(extra=', "description": "sent in pieces"').encode()
    chunks = (content[start : start + 7] for start in range(0, len(content), 7))
    response = post_raw(client, merchant, "/v1/payments", chunks)  # type: ignore[arg-type]
    assert response.status_code == 202, response.text
    assert response.json()["description"] == "sent in pieces"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_a_body_that_is_not_json_is_an_unsupported_media_type(
    client: TestClient, merchant: Api, container: Container, content_type: str | None
) -> None:
    headers = {**bearer(merchant.key), "Idempotency-Key": new_key()}
    if content_type is not None:
        headers["Content-Type"] = content_type
    with nothing_written(container):
        response = client.post("/v1/payments", content=payment_body(), headers=headers)
    assert_problem(response, 415, "unsupported_media_type")


def test_json_with_a_charset_parameter_is_accepted(client: TestClient, merchant: Api) -> None:
    response = post_raw(
        client,
        merchant,
        "/v1/payments",
        payment_body(),
        **{"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"status": "paid"}],
)
def test_bad_list_parameters_are_validation_problems(merchant: Api, params: dict[str, str]) -> None:
    problem = assert_problem(merchant.get("/v1/payments", **params), 422, "validation_error")
    assert fields_of(problem) == [f"query.{next(iter(params))}"]


# Authentication and authorization ----------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer   ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer psk_" + "0" * 32 + "_" + "0" * 64,
    ],
    ids=["missing", "empty", "no-token", "blank-token", "basic", "garbage", "unknown-key"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_missing_or_bad_api_key_is_unauthenticated(
    client: TestClient, container: Container, authorization: str | None, method: str
) -> None:
    headers = {"Idempotency-Key": new_key()}
    if authorization is not None:
        headers["Authorization"] = authorization
    with nothing_written(container):
        if method == "GET":
            response = client.get("/v1/payments", headers=headers)
        else:
            response = client.post(
                "/v1/payments",
                json={"amount": 1000, "currency": "USD", "source": "tok_visa"},
                headers=headers,
            )
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_tampered_secret_of_a_real_key_is_unauthenticated(
    client: TestClient, merchant: Api
) -> None:
    tampered = merchant.key[:-4] + ("0000" if not merchant.key.endswith("0000") else "1111")
    response = client.get("/v1/payments", headers=bearer(tampered))
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/merchants", {"name": "Mallory"}),
        ("/v1/api_keys", {"role": "finance"}),
    ],
)
def test_a_merchant_key_cannot_use_admin_endpoints(
    merchant: Api, container: Container, path: str, body: dict[str, Any]
) -> None:
    with nothing_written(container):
        response = merchant.post(path, body, Idempotency_Key=new_key())
    assert_problem(response, 403, "forbidden")


def test_the_admin_key_cannot_create_payments(client: TestClient, container: Container) -> None:
    with nothing_written(container):
        response = admin(client).pay(1000)
    assert_problem(response, 403, "forbidden")


# Unknown ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/payments/pay_{UNKNOWN_HEX}",
        f"/v1/payments/pay_{UNKNOWN_HEX}/events",
        f"/v1/refunds/re_{UNKNOWN_HEX}",
        f"/v1/customers/cus_{UNKNOWN_HEX}",
        "/v1/payments/pay_not-hex-at-all-not-hex-at-all-xx",
        f"/v1/payments/cus_{UNKNOWN_HEX}",
        f"/v1/payments/{UNKNOWN_HEX}",
        "/v1/payments/pay_",
        "/v1/refunds/" + "re_" + "a" * 500,
    ],
)
def test_an_unknown_or_malformed_id_is_not_found(merchant: Api, path: str) -> None:
    assert_problem(merchant.get(path), 404, "not_found")


@pytest.mark.parametrize("action", ["capture", "cancel"])
@pytest.mark.parametrize("payment_id", [f"pay_{UNKNOWN_HEX}", "pay_bogus"])
def test_commands_on_an_unknown_payment_are_not_found_and_write_nothing(
    merchant: Api, container: Container, action: str, payment_id: str
) -> None:
    with nothing_written(container):
        response = merchant.post(f"/v1/payments/{payment_id}/{action}", Idempotency_Key=new_key())
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("payment_id", [f"pay_{UNKNOWN_HEX}", "pay_bogus"])
def test_a_refund_of_an_unknown_payment_is_not_found_and_writes_nothing(
    merchant: Api, container: Container, payment_id: str
) -> None:
    with nothing_written(container):
        response = merchant.post("/v1/refunds", {"payment": payment_id}, Idempotency_Key=new_key())
    assert_problem(response, 404, "not_found")


def test_a_payment_for_an_unknown_customer_is_not_found_and_writes_nothing(
    merchant: Api, container: Container
) -> None:
    with nothing_written(container):
        response = merchant.pay(1000, customer=f"cus_{UNKNOWN_HEX}")
    assert_problem(response, 404, "not_found")


# Idempotency-Key header ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/payments", {"amount": 1000, "currency": "USD", "source": "tok_visa"}),
        ("/v1/refunds", {"payment": f"pay_{UNKNOWN_HEX}"}),
    ],
)
def test_money_moving_requests_require_an_idempotency_key(
    client: TestClient, merchant: Api, container: Container, path: str, body: dict[str, Any]
) -> None:
    with nothing_written(container):
        response = client.post(path, json=body, headers=bearer(merchant.key))
    assert_problem(response, 400, "idempotency_key_required")


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "tab\there", "bell\x07", "caf\xe9", ""],
    ids=["overlong", "tab", "control", "non-ascii", "empty"],
)
def test_an_overlong_or_unprintable_idempotency_key_is_refused(
    client: TestClient, merchant: Api, container: Container, key: str
) -> None:
    headers = {**bearer(merchant.key), "Idempotency-Key": key.encode("latin-1")}
    with nothing_written(container):
        response = client.post(
            "/v1/payments",
            json={"amount": 1000, "currency": "USD", "source": "tok_visa"},
            headers=headers,  # type: ignore[arg-type]
        )
    problem = assert_problem(response, 422, "invalid_value")
    assert fields_of(problem) == ["Idempotency-Key"]


def test_an_idempotency_key_of_255_printable_characters_is_accepted(merchant: Api) -> None:
    response = merchant.pay(1000, key="k" * 254 + "~")
    assert response.status_code == 202, response.text


# Illegal transitions ---------------------------------------------------------------------


def get_payment(merchant: Api, payment_id: str) -> dict[str, Any]:
    response = merchant.get(f"/v1/payments/{payment_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@contextmanager
def payment_unchanged(merchant: Api, container: Container, payment_id: str) -> Iterator[None]:
    before = get_payment(merchant, payment_id)
    with nothing_written(container):
        yield
    assert get_payment(merchant, payment_id) == before


def test_a_payment_still_processing_cannot_be_captured(merchant: Api, container: Container) -> None:
    payment_id = merchant.pay(1000, capture_method="manual").json()["id"]
    with payment_unchanged(merchant, container, payment_id):
        response = merchant.post(f"/v1/payments/{payment_id}/capture")
    assert_problem(response, 409, "payment_not_capturable")


def test_a_canceled_payment_cannot_be_captured(merchant: Api, container: Container) -> None:
    payment_id = manual_payment(merchant, container)
    assert merchant.post(f"/v1/payments/{payment_id}/cancel").status_code == 200
    with payment_unchanged(merchant, container, payment_id):
        response = merchant.post(f"/v1/payments/{payment_id}/capture")
    assert_problem(response, 409, "payment_not_capturable")


def test_a_payment_cannot_be_captured_twice_under_different_keys(
    merchant: Api, container: Container
) -> None:
    payment_id = manual_payment(merchant, container)
    first = merchant.post(f"/v1/payments/{payment_id}/capture", Idempotency_Key=new_key())
    assert first.status_code == 200, first.text
    with payment_unchanged(merchant, container, payment_id):
        again = merchant.post(f"/v1/payments/{payment_id}/capture", Idempotency_Key=new_key())
    assert_problem(again, 409, "payment_not_capturable")


def test_a_succeeded_payment_cannot_be_canceled(merchant: Api, container: Container) -> None:
    payment_id = merchant.pay(1000).json()["id"]
    drain(container)
    with payment_unchanged(merchant, container, payment_id):
        response = merchant.post(f"/v1/payments/{payment_id}/cancel")
    assert_problem(response, 409, "payment_not_cancelable")


def test_a_capture_above_the_authorized_amount_is_refused(
    merchant: Api, container: Container
) -> None:
    payment_id = manual_payment(merchant, container)
    with payment_unchanged(merchant, container, payment_id):
        response = merchant.post(f"/v1/payments/{payment_id}/capture", {"amount": 1001})
    assert_problem(response, 422, "capture_exceeds_authorized")
    assert get_payment(merchant, payment_id)["status"] == "requires_capture"


def test_a_refund_above_what_remains_is_refused(merchant: Api, container: Container) -> None:
    payment_id = merchant.pay(1000).json()["id"]
    drain(container)
    first = merchant.post(
        "/v1/refunds", {"payment": payment_id, "amount": 600}, Idempotency_Key=new_key()
    )
    assert first.status_code == 202, first.text
    with payment_unchanged(merchant, container, payment_id):
        response = merchant.post(
            "/v1/refunds", {"payment": payment_id, "amount": 401}, Idempotency_Key=new_key()
        )
    assert_problem(response, 422, "refund_exceeds_captured")


def test_a_fully_refunded_payment_refuses_another_refund(
    merchant: Api, container: Container
) -> None:
    payment_id = merchant.pay(1000).json()["id"]
    drain(container)
    full = merchant.post("/v1/refunds", {"payment": payment_id}, Idempotency_Key=new_key())
    assert full.status_code == 202, full.text
    with payment_unchanged(merchant, container, payment_id):
        response = merchant.post(
            "/v1/refunds", {"payment": payment_id, "amount": 1}, Idempotency_Key=new_key()
        )
    assert_problem(response, 422, "refund_exceeds_captured")


@pytest.mark.parametrize(
    ("source", "capture_method", "status"),
    [
        ("tok_visa", "manual", "requires_capture"),
        ("tok_decline", "automatic", "failed"),
        ("tok_risk", "automatic", "canceled"),
        ("tok_visa", "automatic", "processing"),
    ],
)
def test_only_a_succeeded_payment_can_be_refunded(
    merchant: Api,
    container: Container,
    source: str,
    capture_method: str,
    status: str,
) -> None:
    payment_id = merchant.pay(1000, source=source, capture_method=capture_method).json()["id"]
    if status != "processing":
        drain(container)
    assert get_payment(merchant, payment_id)["status"] == status
    with payment_unchanged(merchant, container, payment_id):
        response = merchant.post("/v1/refunds", {"payment": payment_id}, Idempotency_Key=new_key())
    assert_problem(response, 409, "payment_not_refundable")


def test_a_refund_amount_in_the_wrong_shape_is_refused_before_any_lookup(
    merchant: Api, container: Container
) -> None:
    payment_id = merchant.pay(1000).json()["id"]
    drain(container)
    with payment_unchanged(merchant, container, payment_id):
        response = merchant.post(
            "/v1/refunds",
            {"payment": payment_id, "amount": 1.5, "reason": "requested_by_customer"},
            Idempotency_Key=new_key(),
        )
    assert fields_of(assert_problem(response, 422, "validation_error")) == ["amount"]


def test_a_body_repeating_a_key_is_refused_rather_than_guessed(
    client: TestClient, merchant: Api, container: Container
) -> None:
    body = '{"amount": 1, "currency": "USD", "source": "tok_visa", "amount": 2}'
    with nothing_written(container):
        response = post_raw(client, merchant, "/v1/payments", body)
    assert_problem(response, 400, "malformed_json")
    assert "repeats a key" in response.json()["detail"]


def test_a_trailing_slash_is_an_unknown_route_not_a_redirect(
    client: TestClient, merchant: Api, container: Container
) -> None:
    with nothing_written(container):
        response = post_raw(client, merchant, "/v1/payments/", payment_body())
    assert_problem(response, 404, "not_found")


def test_an_idempotency_key_of_luhn_valid_digits_is_accepted_and_never_echoed(
    client: TestClient, merchant: Api
) -> None:
    # Issue 12: keys are checked by shape only (events keep their keyed hash).
    response = post_raw(
        client, merchant, "/v1/payments", payment_body(), **{"Idempotency-Key": PAN}
    )
    assert response.status_code == 202, response.text
    assert PAN not in response.text


@pytest.mark.parametrize("given", ["4111-1111-1111-1111", "req_4242424242424242"])
def test_a_request_id_that_looks_like_a_card_number_is_replaced(merchant: Api, given: str) -> None:
    response = merchant.client.get(
        "/v1/payments", headers={**bearer(merchant.key), "X-Request-Id": given}
    )
    assert response.status_code == 200
    assert response.headers["X-Request-Id"].startswith("req_")
    assert response.headers["X-Request-Id"] != given


@pytest.mark.parametrize(
    "path", ["/v1/payments/pay_4242424242424242", "/v1/webhook_endpoints/we_4242424242424242"]
)
def test_a_card_number_in_a_path_is_not_echoed_back(merchant: Api, path: str) -> None:
    response = merchant.get(path)
    assert response.status_code == 404
    assert "4242424242424242" not in response.text


WEBHOOK_SECRET = "whsec_" + "9f" * 24  # over the 40 characters of a metadata key
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtZXJfMSJ9.c2lnbmF0dXJl"


def test_a_credential_the_client_sent_is_never_echoed(client: TestClient, merchant: Api) -> None:
    """An error may name the client's input (a metadata key in a field's path, an event
    type, the path): an API key, a webhook secret or a token in it is redacted."""
    other_key = admin(client).merchant("Other").key
    answers = [
        merchant.pay(metadata={other_key: "x"}),
        merchant.pay(metadata={WEBHOOK_SECRET: "x"}),
        merchant.post("/v1/webhook_endpoints", {"url": "https://1.1.1.1/x", "events": [TOKEN]}),
        merchant.post(
            "/v1/webhook_endpoints", {"url": "https://1.1.1.1/x", "events": [WEBHOOK_SECRET]}
        ),
        merchant.get(f"/v1/payments/{other_key}"),
        merchant.get(f"/v1/payments/{TOKEN}"),
    ]
    for response in answers:
        assert response.status_code in (404, 422), response.text
        assert response.headers["content-type"] == "application/problem+json"
        for secret in (other_key, WEBHOOK_SECRET, TOKEN):
            assert secret not in response.text
    assert "[REDACTED]" in answers[0].json()["errors"][0]["field"]


@pytest.mark.parametrize(
    "key",
    ["cvv", "CVC", "card_number", "pan", "security-code", "card_cvv", "cardCvv", "csc", "cvn"],
)
def test_metadata_naming_card_data_is_refused(
    client: TestClient, merchant: Api, container: Container, key: str
) -> None:
    with nothing_written(container):
        response = post_raw(
            client, merchant, "/v1/payments", payment_body(extra=f', "metadata": {{"{key}": "1"}}')
        )
    assert_problem(response, 422, "card_number_refused")


def test_two_idempotency_keys_in_one_request_are_refused(
    client: TestClient, merchant: Api, container: Container
) -> None:
    headers = [
        ("Authorization", f"Bearer {merchant.key}"),
        ("Content-Type", "application/json"),
        ("Idempotency-Key", "one"),
        ("Idempotency-Key", "two"),
    ]
    with nothing_written(container):
        response = client.post("/v1/payments", content=payment_body(), headers=headers)
    assert_problem(response, 400, "bad_request")


def test_an_unknown_id_is_not_echoed_back(merchant: Api) -> None:
    response = merchant.get("/v1/payments/4242424242424242")
    assert response.status_code == 404
    assert "4242424242424242" not in response.json()["detail"]


@pytest.mark.parametrize("days", [("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-05")])
def test_report_days_out_of_range_are_a_client_error(merchant: Api, days: tuple[str, str]) -> None:
    response = merchant.get("/v1/reports/statement", **{"from": days[0], "to": days[1]})
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("connection to server at 127.0.0.1, port 5 failed"),
        psycopg_pool.PoolTimeout("couldn't get a connection after 30.00 sec"),
    ],
)
def test_a_database_outage_is_a_503_that_says_retry_and_later_requests_fail_fast(
    merchant: Api,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    error: Exception,
) -> None:
    calls: list[object] = []

    def down(**_: Any) -> None:
        calls.append(_)
        raise error

    monkeypatch.setattr(container.router.all()[0].read.payments, "list_payments", down)
    gate = container.gate
    assert gate is not None
    probes_fail(gate, monkeypatch, request)  # Postgres answers here: say it does not

    response = merchant.get("/v1/payments")

    body = assert_problem(response, 503, "service_unavailable")
    assert response.headers["retry-after"] == "2"
    assert "127.0.0.1" not in body["detail"]
    assert "sec" not in body["detail"]
    # Now known down: the next request is refused before it reaches the database.
    wait_for(lambda: gate.down, "the gate never closed")  # the probe's verdict
    assert_problem(merchant.get("/v1/payments"), 503, "service_unavailable")
    assert len(calls) == 1
    assert merchant.client.get("/healthz").status_code == 200  # probes still answer


def test_a_report_while_postgres_answers_does_not_close_the_gate(container: Container) -> None:
    # Hysteresis (issue 12): one failed request, say on a connection left broken by a
    # restart, makes the pool suspect; only a probe that cannot connect closes the gate.
    gate = OutageGate(container.settings.database_url or "", probe_interval_s=0.05)
    gate.report()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        assert not gate.down
        time.sleep(0.01)
    assert gate.recoveries == 1  # the probe connected, and the pool was validated


def test_the_gate_opens_again_once_postgres_answers(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([False, False, False])
    monkeypatch.setattr(PoolHealth, "_reachable", lambda _: next(answers, True))
    gate = OutageGate(container.settings.database_url or "", probe_interval_s=0.05)
    gate.report()
    deadline = time.monotonic() + 2
    while not gate.down:
        assert time.monotonic() < deadline, "the probe never closed the gate"
        time.sleep(0.005)
    while gate.down:
        assert time.monotonic() < deadline, "the probe never saw Postgres"
        time.sleep(0.01)


def test_a_gate_on_an_unreachable_database_stays_shut() -> None:
    gate = OutageGate("postgresql://nobody@127.0.0.1:9/none", probe_interval_s=0.05)
    gate.report()
    time.sleep(0.5)
    assert gate.down


# HEAD ------------------------------------------------------------------------------

# What a browser, a proxy or a monitor may ask with HEAD: every kind of GET we answer.
GETS = [
    "/",
    "/healthz",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/console",
    "/console/",  # a redirect
    "/static/console/console.css",  # StaticFiles
    "/v1/payments",
    "/v1/balance",
    f"/v1/payments/pay_{UNKNOWN_HEX}",  # a problem
]


def test_the_console_page_is_served_only_with_its_headers(client: TestClient) -> None:
    assert client.get("/console").headers["content-security-policy"]
    response = client.get("/static/console/index.html")  # the same page, none of them
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/static/console/console.css").status_code == 200


def test_head_answers_as_get_without_a_body(client: TestClient, merchant: Api) -> None:
    for path in GETS:
        get = client.get(path, headers=bearer(merchant.key), follow_redirects=False)
        head = client.head(path, headers=bearer(merchant.key), follow_redirects=False)
        assert (head.status_code, head.content) == (get.status_code, b""), path
        for header in ("content-type", "content-length", "location"):
            assert head.headers.get(header) == get.headers.get(header), (path, header)


def test_head_is_authenticated_and_only_where_get_is(client: TestClient) -> None:
    anonymous = client.head("/v1/payments")
    assert (anonymous.status_code, anonymous.content) == (401, b"")
    assert anonymous.headers["content-type"] == "application/problem+json"
    post_only = client.head("/v1/tokens", headers=bearer(ADMIN_KEY))
    assert (post_only.status_code, post_only.headers["allow"]) == (405, "POST")
    # HEAD is GET's: the OpenAPI document lists no operation twice.
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path, operations in paths.items() if "head" in operations]
