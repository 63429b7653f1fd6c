"""The async runner of read-model statements: an async psycopg pool per cell.

GraphQL runs the read models' statements (readmodels/<name>/queries.py) here; every
read goes through `ReadDb.fetch`, which also counts statements, so a test can hold
the number of queries of a request constant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from paysource.adapters.postgres.pools import RECONNECT_TIMEOUT_S, statement_limit_ms
from paysource.adapters.postgres.replicas import ReplicaRoute
from paysource.application.deadlines import bounded_wait_s, remaining_s, spent

Row = dict[str, Any]

log = logging.getLogger(__name__)


async def _configure(conn: AsyncConnection[Any]) -> None:
    # Timestamps in UTC whatever the server's TimeZone, so they render the same as REST's.
    await conn.execute("SET TIME ZONE 'UTC'")


async def _check_and_limit(conn: AsyncConnection[Any]) -> None:
    # As pools.check_and_limit: proves the connection alive and bounds its statements.
    await conn.execute(sql.SQL("SET statement_timeout = {}").format(statement_limit_ms()))


class ReadDb:
    """Pools open lazily in the running event loop and close with the app."""

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        max_size: int,
        recoveries: Callable[[], int] = lambda: 0,
        replicas: Mapping[str, ReplicaRoute] | None = None,
    ) -> None:
        self._urls = dict(urls)  # cell name (or a replica's URL) -> database URL
        self._replicas = dict(replicas or {})  # cell name -> its hot standbys
        self._max_size = max_size
        self._pools: dict[str, AsyncConnectionPool[AsyncConnection[DictRow]]] = {}
        # The outage gate's recovery count: when it moves, idle connections are checked
        # once (they died with the outage) instead of one by one at checkout.
        self._recoveries = recoveries
        self._validated: dict[str, int] = {}
        self.statements = 0

    async def open(self, timeout_s: float = 5.0) -> None:
        """Open every cell's pool and wait (bounded) for its first connection, so no
        request's database budget pays for connecting; a cell that is down stays
        pending and is retried by the requests that need it."""
        for name in list(self._urls):
            pool = await self._pool(name)
            try:
                await pool.wait(timeout=timeout_s)
            except PoolTimeout:
                log.warning("graphql reads: no connection to %s yet; retrying on demand", name)

    async def fetch(
        self, cell_name: str, query: str, params: Sequence[Any] = (), *, listing: bool = False
    ) -> list[Row]:
        """Run a read; a `listing` (a list, a report) may be served by a fresh standby."""
        self.statements += 1
        pool = await self._pool(self._source(cell_name) if listing else cell_name)
        try:
            async with pool.connection(bounded_wait_s(pool.timeout)) as conn:
                cursor = await conn.execute(query, params)
                return list(await cursor.fetchall())
        except PoolTimeout:
            if (left := remaining_s()) is not None and left <= 0.01:
                raise spent() from None
            raise

    def _source(self, cell_name: str) -> str:
        route = self._replicas.get(cell_name)
        url = route.fresh_replica_url() if route is not None else None
        if url is None:
            return cell_name
        self._urls.setdefault(url, url)  # a replica's pool is keyed by its URL
        return url

    async def _pool(self, name: str) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
        pool = self._pools.get(name)
        if pool is None:
            pool = AsyncConnectionPool(
                self._urls[name],
                min_size=1,
                max_size=self._max_size,
                kwargs={"autocommit": True, "row_factory": dict_row},
                configure=_configure,
                connection_class=AsyncConnection[DictRow],
                open=False,
                timeout=5.0,
                check=_check_and_limit,
                # See pools.RECONNECT_TIMEOUT_S: recover soon after an outage.
                reconnect_timeout=RECONNECT_TIMEOUT_S,
                name=f"paysource-graphql-{name}",
            )
            self._pools[name] = pool
            self._validated[name] = self._recoveries()
            await pool.open(wait=False)
        if (seen := self._recoveries()) != self._validated[name]:
            self._validated[name] = seen
            await pool.check()
        return pool

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()
