"""Chains and cycles of fragment spreads are refused before anything walks them:
a validation error with a code, one log line, never a traceback (issue 12, item 3)."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paysource.entrypoints.http.graphql import limits
from paysource.entrypoints.http.graphql.limits import MAX_FRAGMENT_SPREADS, RefusalLog
from tests.graphql.helpers import Gql
from tests.helpers import admin

LOGGER = "paysource.entrypoints.http.graphql.limits"


def fragment_chain(n: int, *, cycle: bool) -> str:
    """The issue's repro: `...F0` spreads F1, which spreads F2, … (back to F0 if a cycle)."""
    last = (lambda i: (i + 1) % n) if cycle else (lambda i: i + 1)
    fragments = [f"fragment F{i} on Viewer {{ role ...F{last(i)} }}" for i in range(n)]
    if not cycle:
        fragments.append(f"fragment F{n} on Viewer {{ role }}")
    return "query { viewer { ...F0 } } " + " ".join(fragments)


def spread_often(n: int) -> str:
    """One fragment spread `n` times: a few thousand spreads under the token limit."""
    spreads = " ".join(["...R"] * n)
    return f"query {{ viewer {{ ...S }} }} fragment S on Viewer {{ {spreads} }} " + (
        "fragment R on Viewer { role }"
    )


@pytest.fixture
def gql(client: TestClient) -> Gql:
    return Gql(client, admin(client).merchant().key)


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> RefusalLog:
    fresh = RefusalLog()
    monkeypatch.setattr(limits, "REFUSALS", fresh)
    return fresh


def _refused_code(app: FastAPI, gql: Gql, query: str) -> str:
    db = app.state.graphql.db
    before = db.statements
    response = gql.raw(query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert db.statements == before, "no SQL may run for a refused document"
    assert body["data"] is None
    code: str = body["errors"][0]["extensions"]["code"]
    return code


@pytest.mark.parametrize("cycle", [False, True], ids=["chain", "cycle"])
def test_the_issues_240_spread_chain_is_a_validation_error_with_one_log_line(
    app: FastAPI,
    gql: Gql,
    refusals: RefusalLog,
    caplog: pytest.LogCaptureFixture,
    cycle: bool,
) -> None:
    query = fragment_chain(240, cycle=cycle)
    assert len(json.dumps({"query": query})) < 10_000  # the issue's ~9.6 KB
    with caplog.at_level(logging.DEBUG):
        assert _refused_code(app, gql, query) == "too_many_fragment_spreads"
    # The access log's one line per request is not the refusal's.
    ours = [
        r for r in caplog.records if r.name.startswith("paysource") and r.name != "paysource.access"
    ]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    assert ours[0].levelno == logging.WARNING
    assert ours[0].exc_info is None
    assert f"Allowed: {MAX_FRAGMENT_SPREADS}" in ours[0].getMessage()
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("cycle", [False, True], ids=["chain", "cycle"])
def test_longer_chains_and_thousands_of_spreads_are_refused_the_same_way(
    app: FastAPI, gql: Gql, refusals: RefusalLog, cycle: bool
) -> None:
    # 500 is what fits under the token limit; longer ones are refused while parsing.
    assert _refused_code(app, gql, fragment_chain(500, cycle=cycle)) == (
        "too_many_fragment_spreads"
    )
    assert _refused_code(app, gql, spread_often(2_400)) == "too_many_fragment_spreads"
    body = gql.raw(fragment_chain(1_000, cycle=cycle)).json()  # ~40 KB
    assert "more than 5000 tokens" in body["errors"][0]["message"]


def test_a_chain_short_enough_to_count_but_too_deep_is_refused(
    app: FastAPI, gql: Gql, refusals: RefusalLog
) -> None:
    assert _refused_code(app, gql, fragment_chain(60, cycle=False)) == "query_too_nested"


def test_refused_documents_log_one_line_per_interval_not_one_per_request(
    app: FastAPI, gql: Gql, refusals: RefusalLog, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        for n in range(20):  # distinct documents: no cache helps
            _refused_code(app, gql, fragment_chain(240 + n, cycle=n % 2 == 0))
    assert len([r for r in caplog.records if r.name == LOGGER]) == 1
    refusals._next_at = 0  # the interval has passed
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        _refused_code(app, gql, fragment_chain(300, cycle=True))
    refused = [r for r in caplog.records if r.name == LOGGER]
    assert "(19 more refused since the last such line)" in refused[-1].getMessage()


def test_a_screen_built_of_several_fragments_still_runs(gql: Gql) -> None:
    query = """
        query Dashboard { viewer { ...Who ...Page } }
        fragment Who on Viewer { role merchant { id } }
        fragment Page on Viewer {
          balances { currency pending { ...Amount } }
          payments(first: 5) { nodes { ...Row } pageInfo { ...More } }
        }
        fragment Row on Payment { id status amount { ...Amount } customer { id name } }
        fragment Amount on Money { formatted currency }
        fragment More on PageInfo { hasNextPage endCursor }
    """
    data = gql(query)
    assert data["viewer"]["role"] == "MERCHANT"
    assert data["viewer"]["payments"]["nodes"] == []


def test_a_fragment_spread_twice_per_level_is_measured_once_per_fragment(
    app: FastAPI, gql: Gql
) -> None:
    # 2**30 paths if walked naively (strawberry's limiters did): now linear.
    levels = 30
    fragments = [f"fragment F{n} on Viewer {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)]
    fragments.append(f"fragment F{levels} on Viewer {{ role }}")
    data = gql("query { viewer { ...F0 } } " + " ".join(fragments))
    assert data == {"viewer": {"role": "MERCHANT"}}
