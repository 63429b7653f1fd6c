"""The event feed (`GET /v1/events`) and every object's history (`/{objects}/{id}/events`):
a merchant sees its own events only; auditors and admins see every merchant's."""

from __future__ import annotations

import io
import threading
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.application.ids import Kind, decode
from paysource.application.webhooks.catalog import webhook_event_id
from paysource.bootstrap import Container
from paysource.entrypoints.serve import apply_migrations
from paysource.readmodels.events.backfill import fill_event_ids
from tests.helpers import Api, admin, drain, new_key


def _world(client: TestClient, container: Container) -> tuple[Api, Api, dict[str, str]]:
    staff = admin(client)
    mine, theirs = staff.merchant("Mine"), staff.merchant("Theirs")
    payment = mine.pay(2500, key=new_key()).json()["id"]
    customer = mine.post("/v1/customers", {"name": "Ada"}, Idempotency_Key=new_key()).json()["id"]
    endpoint = mine.post(
        "/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/hooks", "events": ["*"]}
    ).json()["id"]
    theirs.pay(999)
    drain(container)
    refund = mine.post(
        "/v1/refunds", {"payment": payment, "amount": 500}, Idempotency_Key=new_key()
    ).json()["id"]
    drain(container)
    ids = {"payment": payment, "customer": customer, "endpoint": endpoint, "refund": refund}
    return mine, theirs, ids


def _feed(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/v1/events", **params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_a_merchant_sees_every_kind_of_its_own_objects_events_and_no_one_elses(
    client: TestClient, container: Container
) -> None:
    mine, theirs, ids = _world(client, container)
    events = _feed(mine, limit=100)

    merchants = {e["merchant"] for e in events}
    assert len(merchants) == 1
    assert {e["object_kind"] for e in events} == {
        "merchant", "payment", "customer", "webhook_endpoint", "refund",
    }  # fmt: skip
    assert len({e["id"] for e in events}) == len(events)
    created = next(e for e in events if e["object_id"] == ids["payment"])
    assert (created["type"], created["version"]) == ("Payment.Created", 1)
    assert created["actor"]["kind"] == "merchant"
    assert created["request_id"]
    assert not {e["object_id"] for e in _feed(theirs, limit=100)} & set(ids.values())


def test_staff_see_every_merchant_and_filter_by_type_object_and_time(
    client: TestClient, container: Container
) -> None:
    mine, _theirs, ids = _world(client, container)
    auditor = Api(client, admin(client).post("/v1/api_keys", {"role": "auditor"}).json()["api_key"])
    everything = _feed(auditor, limit=100)
    assert len({e["merchant"] for e in everything}) == 2

    captured = _feed(mine, type="Payment.Captured")
    assert [e["object_id"] for e in captured] == [ids["payment"]]
    of_refund = _feed(mine, object=ids["refund"])
    assert {e["object_id"] for e in of_refund} == {ids["refund"]}
    moment = of_refund[0]["time"]
    assert all(e["time"] >= moment for e in _feed(mine, since=moment, limit=100))
    assert all(e["time"] <= moment for e in _feed(mine, until=moment, limit=100))
    first = _feed(mine, limit=2)
    assert _feed(mine, limit=1, starting_after=first[0]["id"]) == first[1:]
    # Auditors page by log position (docs/audit.md), or by an event's id alike.
    assert all(isinstance(e["position"], int) for e in everything)
    after = _feed(auditor, limit=1, starting_after=everything[0]["position"])
    assert after == everything[1:2] == _feed(auditor, limit=1, starting_after=everything[0]["id"])


def _problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_merchants_feed_shows_no_log_position_and_pages_by_event_id(
    client: TestClient, container: Container
) -> None:
    # Positions are the cell's notification ids: the gaps between a merchant's own
    # would count every other merchant's events (their volume).
    mine, theirs, ids = _world(client, container)
    events = _feed(mine, limit=100)
    assert not [e for e in events if "position" in e]
    created = next(e for e in events if e["object_id"] == ids["payment"])
    # The same id as the webhook of that state change (docs/webhooks.md).
    assert created["id"] == f"evt_{webhook_event_id(decode(Kind.PAYMENT, ids['payment']), 1).hex}"

    @settings(max_examples=6, deadline=None, derandomize=True)
    @given(st.integers(1, len(events) + 1))
    def every_event_once_in_order(size: int) -> None:
        seen: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": size}
        while True:
            body = mine.get("/v1/events", **params).json()
            seen.extend(body["data"])
            if not body["has_more"]:
                break
            params["starting_after"] = body["data"][-1]["id"]
        assert seen == events

    every_event_once_in_order()
    theirs_first = _feed(theirs, limit=1)[0]["id"]
    for cursor in (theirs_first, "evt_" + "0" * 32, "evt_nope", "pay_1", "x" * 100):
        _problem(mine.get("/v1/events", starting_after=cursor), 404)
    # Any integer: else a merchant could binary-search its own events' positions.
    for position in ("0", "1", "-1", str(2**63 - 1), str(2**70)):
        _problem(mine.get("/v1/events", starting_after=position), 422)


def test_every_object_has_its_history_and_another_merchants_is_not_found(
    client: TestClient, container: Container
) -> None:
    mine, theirs, ids = _world(client, container)
    merchant = _feed(mine, type="Merchant.Registered")[0]["object_id"]
    paths = [
        f"/v1/refunds/{ids['refund']}/events",
        f"/v1/customers/{ids['customer']}/events",
        f"/v1/webhook_endpoints/{ids['endpoint']}/events",
        f"/v1/merchants/{merchant}/events",
        f"/v1/payments/{ids['payment']}/events",
    ]
    for path in paths:
        mine_answer = mine.get(path)
        assert mine_answer.status_code == 200, (path, mine_answer.text)
        assert mine_answer.json()["data"][0]["version"] == 1
        assert theirs.get(path).status_code == 404, path
        assert admin(client).get(path).status_code == 200, path


def test_bad_feed_parameters_are_problems_not_failures(
    client: TestClient, container: Container
) -> None:
    staff = admin(client)
    merchant = staff.merchant()
    finance = Api(client, staff.post("/v1/api_keys", {"role": "finance"}).json()["api_key"])
    auditor = Api(client, staff.post("/v1/api_keys", {"role": "auditor"}).json()["api_key"])
    for params in (
        {"starting_after": -1},
        {"starting_after": 2**63},
        {"starting_after": "1" * 101},
    ):
        response = auditor.get("/v1/events", **params)
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")
    assert auditor.get("/v1/events", starting_after="pay_1").status_code == 404
    for params in (
        {"limit": 101},
        {"since": "yesterday"},
        {"until": "1700000000"},
        {"since": "2026-01-01T00:00:00"},  # no offset: which moment?
    ):
        response = merchant.get("/v1/events", **params)
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")
    assert merchant.get("/v1/events", object="xyz_123").status_code == 404
    for extreme in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        assert merchant.get("/v1/events", since=extreme, until=extreme).status_code == 200
        assert merchant.get("/v1/balance", as_of=extreme).status_code == 200
    assert auditor.get("/v1/events", starting_after=2**63 - 1).json()["data"] == []
    assert finance.get("/v1/events").status_code == 403


def test_migrate_gives_rows_from_before_event_ids_theirs_and_merchants_page_by_them(
    client: TestClient, container: Container, database_url: str
) -> None:
    """Rows indexed before migration 026 have no `event_id`: `migrate` fills them (a
    merchant's cursor from such a row would else be "not found"); again, it fills none."""
    mine, _, _ = _world(client, container)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE event_index SET event_id = NULL")
    first = _feed(mine, limit=1)[0]
    assert mine.get("/v1/events", starting_after=first["id"]).status_code == 404

    out = io.StringIO()
    apply_migrations(container.settings, out=out)
    assert "feed event ids:" in out.getvalue()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT object_id, version, event_id FROM event_index").fetchall()
    assert rows
    assert all(row[2] == webhook_event_id(row[0], row[1]) for row in rows)
    assert (
        len(_feed(mine, starting_after=first["id"], limit=100)) == len(_feed(mine, limit=100)) - 1
    )
    again = io.StringIO()
    apply_migrations(container.settings, out=again)
    assert "feed event ids" not in again.getvalue()


def test_a_second_filler_waits_for_the_first_and_then_finds_nothing_left(
    client: TestClient, container: Container, database_url: str
) -> None:
    """Two `migrate` runs (hosts starting at once) fill one after the other: the second
    waits for the first's lock, then finds every row filled. The test holds that lock
    itself, standing in for the first."""
    _world(client, container)
    with psycopg.connect(database_url, autocommit=True) as first:
        first.execute("UPDATE event_index SET event_id = NULL")
        first.execute("SELECT pg_advisory_lock(hashtext('paysource:fill_event_ids'))")
        filled: list[int] = []
        second = threading.Thread(target=lambda: filled.append(fill_event_ids(database_url)))
        second.start()
        second.join(timeout=1.0)
        assert second.is_alive(), "the second filler did not wait for the lock"
        done = first.execute("SELECT count(*) FROM event_index WHERE event_id IS NOT NULL")
        assert done.fetchone() == (0,)
        first.execute("UPDATE event_index SET event_id = gen_random_uuid() WHERE position > 0")
        first.execute("SELECT pg_advisory_unlock(hashtext('paysource:fill_event_ids'))")
        second.join(timeout=30)
    assert filled == [0]  # the "first" filled them all meanwhile
