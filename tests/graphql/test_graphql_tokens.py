"""Tokens: minted by a merchant key over REST, accepted by GraphQL only, pinned to
HS256 with exp, iat, iss, aud and sub required."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import jwt
import pytest
from fastapi.testclient import TestClient

from paysource.application.errors import Unauthenticated
from paysource.application.tokens import (
    AUDIENCE,
    ISSUER,
    MAX_TTL_S,
    TokenIssuer,
    derived_secret,
    issuer_for,
)
from paysource.bootstrap import Container
from paysource.domain.errors import InvalidValue
from tests.graphql.helpers import Gql, token
from tests.helpers import admin, bearer, new_key

SECRET = derived_secret("an admin key of at least thirty-two characters")


def test_a_merchant_key_mints_a_token_that_graphql_accepts(client: TestClient) -> None:
    api = admin(client).merchant()
    response = api.post("/v1/tokens", {"ttl_s": 120})
    assert response.status_code == 201
    body = response.json()
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=110) < expires - datetime.now(UTC) <= timedelta(seconds=120)
    assert Gql(client, body["token"])("{ viewer { role } }") == {"viewer": {"role": "MERCHANT"}}
    # REST takes API keys only.
    assert client.get("/v1/payments", headers=bearer(body["token"])).status_code == 401


def test_only_merchant_keys_mint_and_only_for_their_own_customers(client: TestClient) -> None:
    a, b = admin(client).merchant("A"), admin(client).merchant("B")
    b_customer = b.post("/v1/customers", {"name": "Bea"}).json()["id"]
    assert a.post("/v1/tokens", {"customer": b_customer}).status_code == 404
    assert admin(client).post("/v1/tokens", {}).status_code == 403
    a_token = token(a)
    assert client.post("/v1/tokens", json={}, headers=bearer(a_token)).status_code == 401
    assert a.post("/v1/tokens", {"ttl_s": 7200}).status_code == 422


def test_minting_refuses_an_idempotency_key_rather_than_ignore_it(client: TestClient) -> None:
    # A replay would have to store the bearer token; an ignored key would mint anew on
    # each retry while docs/api.md promises a replay (docs/decisions.md).
    api = admin(client).merchant()

    refused = api.post("/v1/tokens", {"ttl_s": 120}, Idempotency_Key=new_key())

    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/idempotency_key_not_supported")
    assert "token" not in problem
    assert "expires" in problem["detail"]
    assert api.post("/v1/tokens", {"ttl_s": 120}).status_code == 201


def test_tampered_expired_or_foreign_tokens_are_refused(client: TestClient) -> None:
    api = admin(client).merchant()
    good = token(api)
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = uuid4().hex
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    unsigned = jwt.encode(claims, key="", algorithm="none")
    for bad in (f"{header}.{forged_payload}.{signature}", unsigned):
        response = client.post(
            "/graphql", json={"query": "{ viewer { role } }"}, headers=bearer(bad)
        )
        assert response.status_code == 401, bad


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_the_issuer_pins_the_algorithm_and_requires_every_claim() -> None:
    issuer = TokenIssuer(SECRET)
    merchant = uuid4()
    minted = issuer.mint(merchant_id=merchant, key_id=None, customer_id=None, ttl_s=60)
    assert issuer.verify(minted.token).merchant_id == merchant
    now = datetime.now(UTC)
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": merchant.hex,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    refused = [
        jwt.encode({**base, "exp": now - timedelta(minutes=1)}, SECRET, algorithm="HS256"),
        jwt.encode({**base, "aud": "someone-else"}, SECRET, algorithm="HS256"),
        jwt.encode({**base, "iss": "someone-else"}, SECRET, algorithm="HS256"),
        jwt.encode({k: v for k, v in base.items() if k != "exp"}, SECRET, algorithm="HS256"),
        jwt.encode({k: v for k, v in base.items() if k != "aud"}, SECRET, algorithm="HS256"),
        jwt.encode(base, SECRET, algorithm="HS512"),
        jwt.encode(base, b"another secret of thirty-two bytes or more!", algorithm="HS256"),
        jwt.encode({**base, "sub": "not a uuid"}, SECRET, algorithm="HS256"),
    ]
    for bad in refused:
        with pytest.raises(Unauthenticated):
            issuer.verify(bad)
    with pytest.raises(InvalidValue):
        issuer.mint(merchant_id=merchant, key_id=None, ttl_s=10_000)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_token_lives_at_most_max_ttl_and_names_exactly_our_audience() -> None:
    """Whoever signs (a leaked secret, a buggy backend) cannot make a token that
    outlives MAX_TTL_S, nor one aimed at several audiences."""
    issuer = TokenIssuer(SECRET)
    merchant = uuid4()
    now = datetime.now(UTC).replace(microsecond=0)
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": merchant.hex, "iat": now}
    longest = {**base, "exp": now + timedelta(seconds=MAX_TTL_S)}
    claims = issuer.verify(jwt.encode(longest, SECRET, algorithm="HS256"))
    assert claims.expires_at == now + timedelta(seconds=MAX_TTL_S)
    refused = [
        {**base, "exp": now + timedelta(seconds=10**8)},
        {**base, "exp": now + timedelta(seconds=MAX_TTL_S + 60)},
        # Issued "in the future" so that exp - iat looks short: exp is still too far.
        {**base, "iat": now + timedelta(days=30), "exp": now + timedelta(days=30, minutes=5)},
        {**base, "exp": now + timedelta(minutes=5), "aud": [AUDIENCE]},
        {**base, "exp": now + timedelta(minutes=5), "aud": [AUDIENCE, "someone-else"]},
        {**base, "exp": now + timedelta(minutes=5), "iat": str(int(now.timestamp()))},
    ]
    for bad in refused:
        with pytest.raises(Unauthenticated):
            issuer.verify(jwt.encode(bad, SECRET, algorithm="HS256"))


def test_graphql_refuses_a_token_that_lives_for_years(
    client: TestClient, container: Container
) -> None:
    api = admin(client).merchant()
    good = token(api)
    claims = jwt.decode(good, options={"verify_signature": False})
    secret = issuer_for(container.settings)._secret  # to sign a bad one
    forever = jwt.encode({**claims, "exp": claims["iat"] + 10**8}, secret, algorithm="HS256")
    response = client.post(
        "/graphql", json={"query": "{ viewer { role } }"}, headers=bearer(forever)
    )
    assert response.status_code == 401
