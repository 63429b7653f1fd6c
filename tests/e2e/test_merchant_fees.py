"""A merchant's own fees (issue 11): a fixed fee per currency, in that currency's minor
units, set at registration or replaced later (REST, CLI), shown in GraphQL, and used by
the next captures; other currencies take the platform's default."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.domain.fees import default_fixed_minor
from tests.e2e.test_cli import env_for, paysource
from tests.graphql.helpers import Gql
from tests.helpers import Api, admin, bearer, drain, new_key

FEES = "{ viewer { merchant { fees { basisPoints fixed { amountMinor currency }"
FEES += " fixedByCurrency { amountMinor currency } } } } }"


def put(api: Api, path: str, body: dict[str, object]) -> httpx.Response:
    return api.client.put(path, json=body, headers=bearer(api.key))


def register(client: TestClient, **body: object) -> tuple[Api, dict[str, object]]:
    response = admin(client).post("/v1/merchants", {"name": "Shop", **body})
    assert response.status_code == 201, response.text
    shown = response.json()
    return Api(client, str(shown["api_key"])), shown


def captured_fee(client: TestClient, container: Container, merchant: Api, **pay: object) -> int:
    body = {"source": "tok_visa", **pay}
    paid = merchant.post("/v1/payments", body, Idempotency_Key=new_key())
    assert paid.status_code in (200, 201, 202), paid.text
    drain(container)
    fee: int = merchant.get(f"/v1/payments/{paid.json()['id']}").json()["fee"]
    return fee


def test_a_merchants_own_fixed_fee_per_currency_applies_and_others_take_the_default(
    client: TestClient, container: Container
) -> None:
    merchant, shown = register(
        client, fee_basis_points=200, fee_fixed={"JPY": 40, "kwd": 100, "USD": 25}
    )

    assert shown["fee_fixed"] == {"JPY": 40, "KWD": 100, "USD": 25}
    assert shown["fee_fixed_minor"] == 25  # the settlement currency's (USD)
    # 2 % of ¥10,000 is ¥200, plus ¥40; of 10.000 KWD 0.200 plus 0.100; EUR: the default.
    assert captured_fee(client, container, merchant, amount=10_000, currency="JPY") == 240
    assert captured_fee(client, container, merchant, amount=10_000, currency="KWD") == 300
    eur = captured_fee(client, container, merchant, amount=10_000, currency="EUR")
    assert eur == 200 + default_fixed_minor("EUR")
    fees = Gql(client, merchant.key)(FEES)["viewer"]["merchant"]["fees"]
    assert fees["basisPoints"] == 200
    assert fees["fixed"] == {"amountMinor": "25", "currency": "USD"}
    assert fees["fixedByCurrency"] == [
        {"amountMinor": "40", "currency": "JPY"},
        {"amountMinor": "100", "currency": "KWD"},
        {"amountMinor": "25", "currency": "USD"},
    ]


def test_one_currency_twice_in_letter_case_is_refused_not_merged(client: TestClient) -> None:
    _, shown = register(client, fee_fixed={"USD": 30})
    twice = {"fee_fixed": {"USD": 30, "usd": 31}}
    for response in (
        admin(client).post("/v1/merchants", {"name": "Shop", **twice}),
        put(admin(client), f"/v1/merchants/{shown['id']}/fees", twice),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "fee_fixed"


def test_the_older_single_fixed_fee_is_the_settlement_currencys(client: TestClient) -> None:
    _, shown = register(client, settlement_currency="EUR", fee_fixed_minor=20)

    assert (shown["fee_fixed"], shown["fee_fixed_minor"]) == ({"EUR": 20}, 20)
    _, default = register(client, settlement_currency="JPY")
    assert (default["fee_fixed"], default["fee_fixed_minor"]) == ({}, default_fixed_minor("JPY"))


def test_replacing_a_schedule_changes_the_next_captures_not_the_past(
    client: TestClient, container: Container
) -> None:
    merchant, shown = register(client, fee_fixed={"JPY": 40})
    before = captured_fee(client, container, merchant, amount=10_000, currency="JPY")

    changed = put(
        admin(client),
        f"/v1/merchants/{shown['id']}/fees",
        {"fee_basis_points": 100, "fee_fixed": {"JPY": 10}},
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["fee_fixed"] == {"JPY": 10}
    assert before == 290 + 40
    assert captured_fee(client, container, merchant, amount=10_000, currency="JPY") == 110
    drain(container)
    fees = Gql(client, merchant.key)(FEES)["viewer"]["merchant"]["fees"]
    assert fees["fixedByCurrency"] == [{"amountMinor": "10", "currency": "JPY"}]


def test_a_bad_fixed_fee_is_a_problem_and_changes_nothing(client: TestClient) -> None:
    _, shown = register(client, fee_fixed={"JPY": 40})
    for body in (
        {"fee_fixed": {"XXX": 30}},
        {"fee_fixed": {"JPY": -1}},
        {"fee_fixed": {"JPY": 1.5}},
    ):
        refused = put(admin(client), f"/v1/merchants/{shown['id']}/fees", body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    owner = Api(client, str(shown["api_key"]))
    forbidden = put(owner, f"/v1/merchants/{shown['id']}/fees", {"fee_fixed": {"JPY": 1}})
    assert forbidden.status_code in (401, 403)
    response = put(admin(client), f"/v1/merchants/{shown['id']}/fees", {"fee_fixed": {}})
    assert response.json()["fee_fixed"] == {}


def test_the_cli_sets_a_merchants_fixed_fees(settings: Settings, client: TestClient) -> None:
    _, shown = register(client)
    env = env_for(settings)

    result = paysource(
        "merchants", "set-fees", "--merchant", str(shown["id"]),
        "--fee-basis-points", "250", "--fee-fixed", "JPY=40", "--fee-fixed", "kwd=100",
        env=env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "fee_fixed=JPY=40 KWD=100" in result.stdout
    bad = paysource(
        "merchants", "set-fees", "--merchant", str(shown["id"]), "--fee-fixed", "JPY40", env=env
    )  # fmt: skip
    assert bad.returncode == 2
    assert "CODE=MINOR_UNITS" in bad.stderr
