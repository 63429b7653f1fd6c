"""The audit signing key: a 32-byte Ed25519 seed, required in production."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from paysource.application.audit import Signer
from paysource.application.webhooks.settings import WebhookSettings
from paysource.audit_verifier import verify_head
from paysource.config import Mode, Settings
from paysource.domain.errors import InvalidValue

STRONG = "k" * 40
PRODUCTION = {
    "env": Mode.PRODUCTION,
    "admin_key": STRONG,
    "jwt_secret": STRONG,
    "webhook": WebhookSettings(signing_key=STRONG),
    "pii_master_key": base64.b64encode(b"p" * 32).decode(),
    "database_url": "postgresql://db/paysource",
    "redis_url": "redis://cache:6379/0",
}


def test_production_refuses_to_sign_with_the_public_development_key() -> None:
    settings = Settings(**PRODUCTION)  # type: ignore[arg-type]

    with pytest.raises(InvalidValue, match="PAYSOURCE_AUDIT_SIGNING_KEY"):
        _ = settings.audit_seed


def test_a_seed_is_read_from_hex_or_base64_and_signs_verifiable_heads() -> None:
    from_hex = Settings(**PRODUCTION, audit_signing_key="ab" * 32)  # type: ignore[arg-type]
    from_b64 = Settings(audit_signing_key="q" * 43 + "=")

    assert from_hex.audit_seed == bytes([0xAB]) * 32
    assert len(from_b64.audit_seed) == 32
    signer = Signer(from_hex.audit_seed)
    head = signer.sign("cell-0", 3, 1_700_000_000_000, b"\x01" * 32)
    assert verify_head(head, signer.public_key)
    assert not verify_head(head, Signer(from_b64.audit_seed).public_key)


@pytest.mark.parametrize("key", ["abc", "zz" * 32, "ab" * 31])
def test_a_malformed_seed_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="32-byte seed"):
        Settings(audit_signing_key=key)
