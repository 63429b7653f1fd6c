"""Sealing personal data in stored events (crypto-shredding), at the mapper.

Events keep plain personal values in memory: aggregates, projections and renderers see
names and e-mails as the domain wrote them. Only their stored form differs: each
personal value is replaced by `ERASED` and the real values travel in one AES-GCM blob
(`_sealed`) under the data subject's key. Decoding opens the blob and puts them back;
once the key is destroyed the blob cannot be opened and the event decodes as its stored
form, the erased one, so replays, projections and rebuilds carry on unchanged.

Events stored before sealing existed have no blob and decode as they were.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from paysource.application.ports import PersonalDataVault
from paysource.domain.personal import ERASED, PersonalFields

SEALED = "_sealed"
_MAPPING = "metadata"

Event = DomainEventProtocol[UUID]
Registry = Mapping[Any, PersonalFields]  # event class → its personal fields


class SealingMapper(Mapper[UUID]):
    """A mapper that seals the personal fields of the event classes in `registry`."""

    def __init__(self, base: Mapper[UUID], vault: PersonalDataVault, registry: Registry) -> None:
        super().__init__(base.transcoder, base.compressor, base.cipher)
        self._vault = vault
        self._registry = registry

    def seals(self, domain_event: Event) -> bool:
        """Whether storing `domain_event` may ask the vault (its class has personal
        fields)."""
        return type(domain_event) in self._registry

    def to_stored_event(self, domain_event: Event) -> StoredEvent:
        personal = self._registry.get(type(domain_event))
        if personal is None:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        secret = _take_personal(state, personal)
        if _is_empty(secret):
            # Nothing personal in this one (evidence of the merchant's policies only):
            # no key is made, and it is taken even once the subject is erased.
            return super().to_stored_event(domain_event)
        sealed = self._vault.seal(
            domain_event.originator_id, _dumps(secret), context=_context(domain_event)
        )
        state[SEALED] = base64.b64encode(sealed).decode()
        return super().to_stored_event(_with_state(domain_event, state))

    def to_domain_event(self, stored_event: StoredEvent) -> Event:
        event = super().to_domain_event(stored_event)
        state = vars(event)  # a fresh object's own dict: ours to change
        sealed = state.pop(SEALED, None)
        if sealed is None:
            return event
        plaintext = self._vault.open(
            event.originator_id, base64.b64decode(sealed), context=_context(event)
        )
        if plaintext is not None:  # None: the key is destroyed, the stored form stands
            _restore(state, json.loads(plaintext))
        return event


def erased_form(event: Event, personal: PersonalFields) -> Event:
    """`event` as it decodes once its key is destroyed: each personal value ERASED (the
    form its stored event has; views of an erased subject's past show this one)."""
    state = dict(vars(event))
    _take_personal(state, personal)
    return _with_state(event, state)


def _take_personal(state: dict[str, Any], personal: PersonalFields) -> dict[str, Any]:
    """Move the personal values out of `state` (left with ERASED in their place)."""
    fields = {name: state[name] for name in personal.fields if state.get(name) is not None}
    state.update(dict.fromkeys(fields, ERASED))
    secret: dict[str, Any] = {"fields": fields}
    if personal.mapping is not None:
        mapping: dict[str, str] = state[personal.mapping]
        values = {k: v for k, v in mapping.items() if personal.key(k)}
        # Stored as "metadata" whatever the field: the name sealed blobs have always had.
        secret[_MAPPING] = {"field": personal.mapping, "values": values}
        state[personal.mapping] = {**mapping, **dict.fromkeys(values, ERASED)}
    return secret


def _is_empty(secret: dict[str, Any]) -> bool:
    return not secret["fields"] and not secret.get(_MAPPING, {}).get("values")


def _restore(state: dict[str, Any], secret: dict[str, Any]) -> None:
    state.update(secret["fields"])
    mapping = secret.get(_MAPPING)
    if mapping is not None:
        state[mapping["field"]] = {**state[mapping["field"]], **mapping["values"]}


def _context(event: Event) -> bytes:
    # Binds a blob to its event: a blob copied into another event does not open.
    return f"{get_topic(type(event))}:{event.originator_id}:{event.originator_version}".encode()


def _dumps(secret: dict[str, Any]) -> bytes:
    return json.dumps(secret, sort_keys=True, separators=(",", ":")).encode()


def _with_state(event: Event, state: dict[str, Any]) -> Event:
    """A copy of the (frozen) event with another state, for the base mapper to store."""
    clone: Event = object.__new__(type(event))
    object.__setattr__(clone, "__dict__", state)
    return clone
