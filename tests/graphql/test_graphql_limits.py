"""Abusive documents are refused before any resolver or SQL runs, with a clear error."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from graphql import OperationDefinitionNode, parse

from paysource.bootstrap import Container
from paysource.config import Mode
from paysource.entrypoints.http.graphql import history, limits
from paysource.entrypoints.http.graphql.cost import MAX_COST, cost
from paysource.entrypoints.http.graphql.limits import (
    MASKED_MESSAGE,
    MAX_ALIASES,
    MAX_DEPTH,
    UNAVAILABLE_MESSAGE,
)
from paysource.entrypoints.http.graphql.schema import build_schema
from tests.graphql.conftest import graphql_app
from tests.graphql.helpers import Gql
from tests.helpers import admin, bearer, probes_fail, wait_for

PAYMENTS = "viewer { payments { nodes { id } } }"


def _refused(app: FastAPI, gql: Gql, query: str) -> str:
    db = app.state.graphql.db
    before = db.statements
    body = gql.raw(query).json()
    assert db.statements == before, "no SQL may run for a refused document"
    assert body.get("data") is None, body
    message: str = body["errors"][0]["message"]
    return message


def _problem(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    body = response.json()
    assert body["status"] == response.status_code
    return response.status_code, body["type"].rsplit("/", 1)[-1], body["detail"]


@pytest.fixture
def gql(client: TestClient) -> Gql:
    return Gql(client, admin(client).merchant().key)


def test_a_query_30_levels_deep_is_refused(app: FastAPI, gql: Gql) -> None:
    # viewer, refunds, nodes, then payment / refunds alternating: 30 levels.
    nested = "payment { refunds { " * 13 + "id" + " } }" * 13
    deep = "{ viewer { refunds { nodes { " + nested + " } } } }"
    assert deep.count("{") == 30
    assert f"exceeds maximum operation depth of {MAX_DEPTH}" in _refused(app, gql, deep)
    screen = "{ viewer { payments { nodes { customer { payments { nodes { id } } } } } } }"
    gql(screen)  # a real screen's depth passes


def test_a_thousand_aliases_are_refused(app: FastAPI, gql: Gql) -> None:
    aliases = " ".join(f"a{n}: __typename" for n in range(1000))
    message = _refused(app, gql, "{ " + aliases + " " + PAYMENTS + " }")
    assert message == f"1000 aliases found. Allowed: {MAX_ALIASES}"
    # The same with real fields is refused too (by the token limit, before parsing ends).
    heavy = " ".join(f"a{n}: {PAYMENTS}" for n in range(1000))
    assert "Document contains more than" in _refused(app, gql, "{ " + heavy + " }")


def test_a_batch_of_100_operations_is_refused(app: FastAPI, gql: Gql) -> None:
    db = app.state.graphql.db
    before = db.statements
    batch = [{"query": "{ " + PAYMENTS + " }"} for _ in range(100)]
    response = gql.client.post("/graphql", json=batch, headers=bearer(gql.credential))
    assert _problem(response) == (400, "bad_request", "Batching is not enabled")
    assert db.statements == before


def test_introspection_is_off_outside_development(app: FastAPI, gql: Gql) -> None:
    message = _refused(app, gql, "{ __schema { types { name } } }")
    assert "introspection has been disabled" in message
    message = _refused(app, gql, '{ __type(name: "Payment") { fields { name } } }')
    assert "introspection has been disabled" in message


def test_field_suggestions_are_off_outside_development(app: FastAPI, gql: Gql) -> None:
    message = _refused(app, gql, "{ viewer { paymnts { nodes { id } } } }")
    assert message == "Cannot query a field that type 'Viewer' does not define."


def test_the_ide_and_get_queries_are_off_outside_development(client: TestClient) -> None:
    response = client.get("/graphql", params={"query": "{ __typename }"})
    assert _problem(response) == (400, "bad_request", "queries are not allowed when using GET")
    response = client.get("/graphql", headers={"Accept": "text/html"})
    assert _problem(response) == (404, "not_found", "Not Found")


@pytest.fixture
def development(container: Container) -> Iterator[TestClient]:
    settings = container.settings.model_copy(update={"env": Mode.DEVELOPMENT})
    container.settings = settings
    with TestClient(graphql_app(container)) as test_client:
        yield test_client


def test_development_keeps_introspection_suggestions_and_the_ide(development: TestClient) -> None:
    gql = Gql(development, admin(development).merchant().key)
    assert gql("{ __schema { queryType { name } } }")["__schema"]["queryType"]["name"] == "Query"
    body = gql.raw("{ viewer { paymnts { nodes { id } } } }").json()
    assert "Did you mean 'payments'?" in body["errors"][0]["message"]
    page = development.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


def test_an_unknown_fragment_is_a_validation_error(app: FastAPI, gql: Gql) -> None:
    message = _refused(app, gql, "{ viewer { ...Z } }")
    assert message == "Unknown fragment 'Z'."


def test_a_bug_while_validating_is_masked_and_logged(
    app: FastAPI, gql: Gql, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(limits, "shape_of", broken)
    with caplog.at_level(logging.ERROR, logger="paysource.entrypoints.http.graphql.limits"):
        # A document seen by no other test: validation results are cached.
        body = gql.raw("{ viewer { broken: role } }").json()
    assert body == {
        "data": None,
        "errors": [{"message": MASKED_MESSAGE, "extensions": {"code": "internal_error"}}],
    }
    assert "secret internals" in caplog.text


def test_a_document_of_several_operations_needs_an_operation_name(app: FastAPI, gql: Gql) -> None:
    two = "query A { viewer { role } } query B { viewer { balances { currency } } }"
    body = gql.raw(two).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "operation_name_required"}
    assert "operationName" in body["errors"][0]["message"]
    response = gql.client.post(
        "/graphql", json={"query": two, "operationName": "B"}, headers=bearer(gql.credential)
    )
    assert response.json() == {"data": {"viewer": {"balances": []}}}
    response = gql.client.post(
        "/graphql", json={"query": two, "operationName": "C"}, headers=bearer(gql.credential)
    )
    assert _problem(response)[:2] == (400, "bad_request")


def test_malformed_requests_are_answered_with_problems(client: TestClient, gql: Gql) -> None:
    headers = bearer(gql.credential)
    response = client.post("/graphql", json={"query": 5}, headers=headers)
    assert _problem(response)[:2] == (400, "bad_request")
    response = client.post("/graphql", json={}, headers=headers)
    assert _problem(response) == (400, "bad_request", "No GraphQL query found in the request")
    response = client.post("/graphql", json={"query": "{ viewer { role } }", "variables": [1]})
    assert response.status_code == 401  # no credential: refused before anything else
    response = client.post(
        "/graphql", json={"query": "{ viewer { role } }", "variables": [1]}, headers=headers
    )
    assert _problem(response)[:2] == (400, "bad_request")


@pytest.mark.parametrize("body", ["5", "null", '"x"', "true"])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(
    client: TestClient, gql: Gql, body: str
) -> None:
    headers = {**bearer(gql.credential), "Content-Type": "application/json"}
    response = client.post("/graphql", content=body, headers=headers)
    assert _problem(response) == (400, "bad_request", "The request body must be a JSON object.")
    # The connection is still good for the next request.
    assert gql("{ viewer { role } }") == {"viewer": {"role": "MERCHANT"}}


def test_a_subscription_sent_with_post_is_refused_before_anything_runs(
    app: FastAPI, gql: Gql
) -> None:
    query = 'subscription { paymentUpdated(id: "pay_0") { __typename } }'
    message = _refused(app, gql, query)
    assert message == "Subscriptions run over a websocket (graphql-transport-ws) at /graphql."


EVENTS_PAGE = "payments(first: 100) { nodes { id events { type version data metadata } } }"


def test_thirty_pages_of_events_are_refused_before_anything_runs(
    app: FastAPI, gql: Gql, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_reads(*_: object) -> None:
        raise AssertionError("the event store was read")

    monkeypatch.setattr(history, "_events_of", no_reads)
    aliases = " ".join(f"a{n}: {EVENTS_PAGE}" for n in range(MAX_ALIASES))
    body = gql.raw("{ viewer { " + aliases + " } }").json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "query_too_costly"
    assert error["extensions"]["maxCost"] == MAX_COST
    assert error["extensions"]["cost"] > 100 * MAX_COST // 10
    assert error["message"].startswith("The query costs ")
    message = _refused(app, gql, "{ viewer { " + aliases + " } }")
    assert "more than the 10,000 allowed" in message


def test_the_cost_counts_first_from_variables_and_expensive_fields(app: FastAPI, gql: Gql) -> None:
    pages = (
        "query($n: Int!) { viewer { a: payments(first: $n) { nodes { events { type } } }"
        " b: payments(first: $n) { nodes { events { type } } } } }"
    )
    refused = gql.raw(pages, n=100).json()
    assert refused["errors"][0]["extensions"]["code"] == "query_too_costly"
    assert gql(pages, n=10) == {"viewer": {"a": {"nodes": []}, "b": {"nodes": []}}}
    items = "{ viewer { settlements(first: 100) { nodes { items { payment { id } } } } } }"
    assert "query_too_costly" in str(gql.raw(items).json()["errors"])
    # A settlement's items on the settlement itself, and a real screen, pass.
    one = 'query { settlement(id: "stl_00") { ... on Settlement { items { payment { id } } } } }'
    assert gql(one) == {"settlement": {}}
    gql(
        "{ viewer { merchant { id } balances { currency pending { formatted } }"
        " dailyVolume { date net { formatted } } payments(first: 20) { edges { cursor"
        " node { id status amount { formatted } customer { name } refunds { id } } }"
        " pageInfo { hasNextPage endCursor } } } }"
    )


def test_a_fragment_spread_many_times_is_costed_once() -> None:
    schema = build_schema(development=False)._schema
    levels = 40  # 2**40 spreads if fragments were expanded
    fragments = [f"fragment F{n} on Viewer {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)]
    fragments.append(f"fragment F{levels} on Viewer {{ payments(first: 1) {{ nodes {{ id }} }} }}")
    document = parse("{ viewer { ...F0 } } " + " ".join(fragments))
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    assert cost(schema, document, operation, None) == 1 + 2**levels * 2


@pytest.mark.parametrize("mode", [Mode.DEVELOPMENT, Mode.TEST])
def test_a_database_outage_is_a_retryable_error_not_the_drivers_message(
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    mode: Mode,
) -> None:
    monkeypatch.setattr(container, "settings", container.settings.model_copy(update={"env": mode}))
    app = graphql_app(container)
    gate = container.gate
    assert gate is not None
    probes_fail(gate, monkeypatch, request)  # keep it shut while we look
    with TestClient(app) as client:
        gql = Gql(client, admin(client).merchant().key)

        async def down(*_: object, **__: object) -> None:
            raise psycopg.OperationalError("terminating connection due to administrator command")

        assert gql("{ viewer { role } }") == {"viewer": {"role": "MERCHANT"}}

        monkeypatch.setattr(app.state.graphql.db, "fetch", down)
        body = gql.raw("{ viewer { payments(first: 2) { nodes { id } } } }").json()

        [error] = body["errors"]
        assert error["message"] == UNAVAILABLE_MESSAGE
        assert error["extensions"] == {"code": "service_unavailable", "retryAfterSeconds": 2}
        wait_for(lambda: gate.down, "the gate never closed")  # then requests are refused
        assert client.post("/graphql", json={"query": "{ viewer { role } }"}).status_code == 503
