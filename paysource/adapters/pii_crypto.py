"""AES-256-GCM for personal data: data keys, their wrapping, and an in-memory vault.

Every blob is `version byte ‖ 12-byte random nonce ‖ ciphertext+tag`. A data key is 32
random bytes per data subject; it is stored only wrapped (encrypted) by the master key,
with the subject's id as associated data, so a wrapped key moved to another subject's
row does not unwrap.
"""

from __future__ import annotations

import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from paysource.application.errors import SubjectErased

VERSION = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def encrypt(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonces: safe far beyond our volumes
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def decrypt(key: bytes, blob: bytes, context: bytes) -> bytes:
    """Raises ValueError for a blob that is not ours or was altered (never None)."""
    if blob[:1] != VERSION:
        raise ValueError("unknown sealed-data version")
    nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, context)
    except InvalidTag:
        raise ValueError("sealed data does not authenticate (altered, or another key)") from None


class KeyWrap:
    """Wraps data keys with the master key (PAYSOURCE_PII_MASTER_KEY)."""

    def __init__(self, master_key: bytes) -> None:
        assert len(master_key) == KEY_BYTES, "the settings check the master key's length"
        self._master_key = master_key

    def wrap(self, subject_id: UUID, data_key: bytes) -> bytes:
        return encrypt(self._master_key, data_key, _key_context(subject_id))

    def unwrap(self, subject_id: UUID, wrapped: bytes) -> bytes:
        return decrypt(self._master_key, wrapped, _key_context(subject_id))


def _key_context(subject_id: UUID) -> bytes:
    return b"paysource-data-key:" + subject_id.bytes


class MemoryPersonalDataVault:
    """The vault in a dict (unit tests, the in-memory store): same sealing, no table."""

    def __init__(self) -> None:
        self._keys: dict[UUID, bytes | None] = {}  # None: destroyed

    def seal(self, subject_id: UUID, plaintext: bytes, *, context: bytes) -> bytes:
        key = self._keys.setdefault(subject_id, new_data_key())
        if key is None:
            raise SubjectErased("the customer was erased")
        return encrypt(key, plaintext, context)

    def open(self, subject_id: UUID, sealed: bytes, *, context: bytes) -> bytes | None:
        key = self._keys.get(subject_id)
        return None if key is None else decrypt(key, sealed, context)

    def destroy(self, subject_id: UUID) -> None:
        self._keys[subject_id] = None
