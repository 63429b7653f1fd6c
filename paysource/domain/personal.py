"""Which event fields are personal data, and how an erased value reads.

Personal data is stored sealed with a key per data subject (crypto-shredding, see
docs/decisions.md); the domain only says *what* is personal, never how it is sealed.
Metadata values whose key starts with `personal.` are personal; other metadata is the
merchant's own bookkeeping (order numbers, plan names) and stays readable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# What a personal value reads as once its key is destroyed (and before a subject's
# erased state is known): a string, so every reader keeps its types.
ERASED = "[erased]"
PERSONAL_METADATA_PREFIX = "personal."


def is_personal_key(key: str) -> bool:
    return key.startswith(PERSONAL_METADATA_PREFIX)


def erase_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """`metadata` with every personal value replaced by ERASED (keys stay: not personal)."""
    return {k: ERASED if is_personal_key(k) else v for k, v in metadata.items()}


@dataclass(frozen=True, slots=True)
class PersonalFields:
    """The personal fields of one event class: whole fields, and the personal values of
    one dict field (`mapping`: a customer's metadata, a dispute's evidence), those whose
    `key` says so."""

    fields: tuple[str, ...]
    mapping: str | None = "metadata"
    key: Callable[[str], bool] = is_personal_key
