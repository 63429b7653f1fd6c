"""Every line logged while serving a request, or while the worker processes what it
recorded, carries the request id, the merchant and the API's ids (`pay_…`); each
request ends with one access-log line. (Issue 14, item 9.)"""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from paysource.logs import ContextFilter, JsonFormatter
from tests.helpers import Api, admin, drain

RAW_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def merchant(client: TestClient) -> Api:
    return admin(client).merchant()


def test_a_request_ends_with_an_access_line_naming_the_request_merchant_and_payment(
    client: TestClient, merchant: Api
) -> None:
    stream, handler = _capture()
    try:
        response = merchant.pay(1500)
    finally:
        logging.getLogger().removeHandler(handler)
    payment = response.json()

    access = [line for line in _parse(stream) if line["logger"] == "paysource.access"]

    assert len(access) == 1
    line = access[0]
    assert line["method"] == "POST"
    assert line["route"] == "/v1/payments"
    assert line["status"] == response.status_code == 202
    assert line["duration_ms"] >= 0
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["payment"] == payment["id"]
    assert line["payment"].startswith("pay_")
    assert line["merchant"].startswith("mer_")


def test_the_route_template_and_the_ids_in_the_path_are_logged_not_raw_uuids(
    client: TestClient, merchant: Api
) -> None:
    payment_id = merchant.pay(1500).json()["id"]
    stream, handler = _capture()
    try:
        merchant.get(f"/v1/payments/{payment_id}")
        merchant.get("/v1/payments/pay_0123")  # not an id of ours: never echoed
    finally:
        logging.getLogger().removeHandler(handler)

    found, unknown = [line for line in _parse(stream) if line["logger"] == "paysource.access"]

    assert found["route"] == "/v1/payments/{payment_id}"
    assert found["payment"] == payment_id
    assert payment_id.removeprefix("pay_") not in json.dumps(
        {k: v for k, v in found.items() if k != "payment"}
    )
    assert unknown["status"] == 404
    assert "payment" not in unknown


def test_the_workers_lines_about_a_payment_carry_its_request_id_and_ids(
    client: TestClient, merchant: Api, container: Container
) -> None:
    response = merchant.pay(1500)
    stream, handler = _capture()
    try:
        drain(container)
    finally:
        logging.getLogger().removeHandler(handler)

    pipeline = [line for line in _parse(stream) if line["logger"] == "paysource.processes.pipeline"]

    assert [line["message"] for line in pipeline] == ["payment authorized"]
    assert pipeline[0]["payment"] == response.json()["id"]
    assert pipeline[0]["request_id"] == response.headers["x-request-id"]
    assert pipeline[0]["merchant"].startswith("mer_")


def test_lines_name_objects_by_their_api_ids_never_by_raw_uuids(
    client: TestClient, merchant: Api, container: Container
) -> None:
    payment_id = merchant.pay(900, source="tok_capture_refused").json()["id"]
    stream, handler = _capture()
    try:
        drain(container)  # the acquirer refuses the capture: an ERROR line names it
    finally:
        logging.getLogger().removeHandler(handler)
    lines = _parse(stream)

    refused = [line for line in lines if line["level"] == "ERROR"]
    assert len(refused) == 1
    assert payment_id in refused[0]["message"]
    assert not [line for line in lines if RAW_UUID.search(json.dumps(line))]


def test_a_card_number_never_reaches_a_json_line(client: TestClient, merchant: Api) -> None:
    stream, handler = _capture()
    try:
        logging.getLogger("paysource.test").warning("card %s", "4242424242424242")
        merchant.pay(1500, source="4242424242424242")
    finally:
        logging.getLogger().removeHandler(handler)

    assert "4242424242424242" not in stream.getvalue()
    assert "[REDACTED PAN]" in stream.getvalue()


def _capture() -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.INFO, logging.INFO))
    return stream, handler


def _parse(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]
