"""API keys: minted by the admin, shown once, revocable."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import Api, admin


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
