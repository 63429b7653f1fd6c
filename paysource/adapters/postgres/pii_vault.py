"""The personal-data vault in Postgres: `customer_keys` (migration 011).

Keys are unwrapped on use and kept in memory only briefly: a process holds at most
`cache_size` of them for at most `cache_ttl_s`, so a key destroyed by another process
stops opening data here soon after, and a memory dump holds few keys. (Correctness
does not rest on this: an erased customer's state comes from its `Erased` event.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from eventsourcing.persistence import PersistenceError
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow

from paysource.adapters.pii_crypto import KeyWrap, decrypt, encrypt, new_data_key
from paysource.application.errors import SubjectErased, Unavailable

log = logging.getLogger(__name__)

_INSERT = """
INSERT INTO customer_keys (subject_id, wrapped_key) VALUES (%s, %s)
ON CONFLICT (subject_id) DO NOTHING
"""
_SELECT = "SELECT wrapped_key, erased_at FROM customer_keys WHERE subject_id = %s"
# A destroyed key leaves a tombstone, so it is never made again for that subject.
_DESTROY = """
INSERT INTO customer_keys (subject_id, wrapped_key, erased_at) VALUES (%s, NULL, now())
ON CONFLICT (subject_id) DO UPDATE
SET wrapped_key = NULL, erased_at = coalesce(customer_keys.erased_at, now())
"""


class PostgresPersonalDataVault:
    def __init__(
        self,
        datastore: PostgresDatastore,
        master_key: bytes,
        *,
        cache_size: int = 1024,
        cache_ttl_s: float = 60.0,
    ) -> None:
        self.datastore = datastore
        self._wrap = KeyWrap(master_key)
        self._cache: OrderedDict[UUID, tuple[float, bytes]] = OrderedDict()
        self._cache_size = cache_size
        self._cache_ttl_s = cache_ttl_s
        self._lock = threading.Lock()

    def seal(self, subject_id: UUID, plaintext: bytes, *, context: bytes) -> bytes:
        key = self._key(subject_id, create=True)
        if key is None:
            raise SubjectErased("the customer was erased")
        return encrypt(key, plaintext, context)

    def open(self, subject_id: UUID, sealed: bytes, *, context: bytes) -> bytes | None:
        key = self._key(subject_id, create=False)
        return None if key is None else decrypt(key, sealed, context)

    def destroy(self, subject_id: UUID) -> None:
        with self._transaction() as curs:
            curs.execute(_DESTROY, (subject_id,))
        with self._lock:
            self._cache.pop(subject_id, None)

    def _key(self, subject_id: UUID, *, create: bool) -> bytes | None:
        cached = self._cached(subject_id)
        if cached is not None:
            return cached
        with self._transaction() as curs:
            if create:
                wrapped = self._wrap.wrap(subject_id, new_data_key())
                curs.execute(_INSERT, (subject_id, wrapped))
            row = curs.execute(_SELECT, (subject_id,)).fetchone()
        if row is None or row["wrapped_key"] is None:
            return None  # never sealed anything (create=False), or destroyed
        key = self._wrap.unwrap(subject_id, bytes(row["wrapped_key"]))
        self._remember(subject_id, key)
        return key

    @contextmanager
    def _transaction(self) -> Iterator[Cursor[DictRow]]:
        try:
            with self.datastore.transaction(commit=True) as curs:
                yield curs
        except PersistenceError as error:
            # The driver's message (hosts, ports; never a key) is for our logs only.
            log.warning("personal-data vault unavailable: %s", error)
            raise Unavailable("the personal-data vault is unavailable; retry shortly") from None

    def _cached(self, subject_id: UUID) -> bytes | None:
        with self._lock:
            entry = self._cache.get(subject_id)
            if entry is None or entry[0] < time.monotonic():
                self._cache.pop(subject_id, None)
                return None
            self._cache.move_to_end(subject_id)
            return entry[1]

    def _remember(self, subject_id: UUID, key: bytes) -> None:
        with self._lock:
            self._cache[subject_id] = (time.monotonic() + self._cache_ttl_s, key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def close(self) -> None:
        self.datastore.close()
