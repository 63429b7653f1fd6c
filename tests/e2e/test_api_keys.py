"""API keys: minted by the admin, shown once, revocable."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import Api, admin, new_key


def test_a_revoked_key_is_refused_at_once_and_cannot_be_revoked_twice(client: TestClient) -> None:
    staff = admin(client)
    minted = staff.post("/v1/api_keys", {"role": "finance", "label": "reports"}).json()
    finance = Api(client, minted["api_key"])
    assert finance.get("/v1/payments").status_code == 200

    revoked = client.delete(
        f"/v1/api_keys/{minted['id']}", headers={"Authorization": f"Bearer {staff.key}"}
    )
    again = client.delete(
        f"/v1/api_keys/{minted['id']}", headers={"Authorization": f"Bearer {staff.key}"}
    )

    assert (revoked.status_code, revoked.json()["revoked"]) == (200, True)
    assert "api_key" not in revoked.json() or revoked.json()["api_key"] is None
    assert finance.get("/v1/payments").status_code == 401
    assert again.status_code == 409
    assert again.json()["type"].endswith("/api_key_revoked")


def test_only_the_admin_revokes_keys(client: TestClient) -> None:
    merchant = admin(client).merchant()
    other = admin(client).post("/v1/api_keys", {"role": "auditor"}).json()

    response = client.delete(
        f"/v1/api_keys/{other['id']}", headers={"Authorization": f"Bearer {merchant.key}"}
    )

    assert response.status_code == 403
    assert Api(client, other["api_key"]).get("/v1/payments").status_code == 200


def test_a_replayed_mint_answers_the_same_key_without_its_secret(client: TestClient) -> None:
    staff = admin(client)
    key = new_key()
    body = {"role": "finance", "label": "reports"}

    first = staff.post("/v1/api_keys", body, Idempotency_Key=key)
    again = staff.post("/v1/api_keys", body, Idempotency_Key=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    # The same key, once: the replay cannot show it again (only its digest is stored).
    assert again.json() == {**first.json(), "api_key": None}
    assert Api(client, first.json()["api_key"]).get("/v1/payments").status_code == 200


def test_a_mint_key_reused_for_another_body_is_refused_and_mints_nothing(
    client: TestClient,
) -> None:
    staff = admin(client)
    merchant = staff.post("/v1/merchants", {"name": "Acme"}).json()
    key = new_key()

    first = staff.post("/v1/api_keys", {"role": "auditor"}, Idempotency_Key=key)
    other = staff.post(
        "/v1/api_keys", {"role": "merchant", "merchant": merchant["id"]}, Idempotency_Key=key
    )
    # A key claimed by a merchant's registration is not a mint's either.
    registered = new_key()
    staff.post("/v1/merchants", {"name": "Beta"}, Idempotency_Key=registered)
    crossed = staff.post("/v1/api_keys", {"role": "auditor"}, Idempotency_Key=registered)

    assert first.status_code == 201
    for refused in (other, crossed):
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/idempotency_key_reused")
        assert "api_key" not in refused.json()
