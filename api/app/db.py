"""PostgreSQL access: psycopg2 connections in asynchronous mode, driven by the asyncio event loop.

Why not a `def` endpoint and psycopg2's ThreadedConnectionPool: every query then hops to a worker
thread, which cost 2.8x the throughput of this design in our measurements (tests/benchmarks/). Why
not a blocking call inside `async def`: one slow query or a database that does not answer would
freeze every request of the worker, /healthz included. psycopg2's asynchronous mode gives neither
cost: the socket is handed to the event loop, and waiting for PostgreSQL blocks nothing.

Asynchronous connections are always in autocommit mode, so every statement here is one transaction:
a write's result reaches the caller only after its COMMIT has returned.
"""

import asyncio
import logging
import select
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from app.metrics import DB_POOL_ACQUIRE_TIMEOUTS, DB_POOL_IN_USE, DB_POOL_SIZE, DB_POOL_WAITS

log = logging.getLogger(__name__)

Row = dict[str, Any]
Connection = psycopg2.extensions.connection

# How much longer than the server's statement_timeout the client waits for an answer: past it,
# the server is taken for unreachable rather than slow.
_ANSWER_MARGIN_S = 0.4


class DatabaseUnavailable(Exception):
    """The database cannot be reached, does not answer, or no connection freed up in time."""


class DatabaseTimeout(Exception):
    """The server cancelled a statement that ran past its statement_timeout."""


class _StaleConnection(Exception):
    """A connection kept from earlier turned out dead: a read may be retried on a fresh one."""


async def _wait(conn: Connection) -> None:
    """Drive an asynchronous connection's pending operation to completion without blocking."""
    loop = asyncio.get_running_loop()
    fd = conn.fileno()
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        ready = loop.create_future()
        if state == psycopg2.extensions.POLL_READ:
            loop.add_reader(fd, ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
        else:
            loop.add_writer(fd, ready.set_result, None)
            try:
                await ready
            finally:
                loop.remove_writer(fd)


def _closed_by_server(conn: Connection) -> bool:
    """Whether an idle connection has something to read: then the server has closed it."""
    if conn.closed:
        return True
    # poll(), not select(): select() refuses descriptors above 1023, which a busy worker reaches.
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class Pool:
    """A bounded pool of asynchronous psycopg2 connections, one per worker process.

    Connections open lazily (the database may be down when the API starts, and it may restart under
    it) and stay open: nothing is closed on return. Every wait is bounded so that a request fails
    within about two seconds when the database is away: `acquire_timeout` for a free connection,
    `connect_timeout` for a new one, the statement timeout plus a margin for an answer; each raises
    `DatabaseUnavailable`. A statement the server cancelled for its timeout raises `DatabaseTimeout`.
    A connection that failed is discarded, never handed out again.

    Usage: `rows = await pool.fetch("SELECT ... WHERE x = %s", (x,))`; `close()` on shutdown.
    """

    def __init__(
        self,
        connect_kwargs: dict[str, Any],
        *,
        size: int,
        connect_timeout: float,
        acquire_timeout: float,
        statement_timeout: float,
    ) -> None:
        self.size = size
        self._connect_kwargs = connect_kwargs
        self._connect_timeout = connect_timeout
        self._acquire_timeout = acquire_timeout
        self._answer_timeout = statement_timeout + _ANSWER_MARGIN_S
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(size)

    async def fit_to_server(self, workers: int, reserved: int) -> None:
        """Before serving: shrink the pool so that `workers` pools fit the server's and the role's limits.

        Publishes the size (api_db_pool_size) when done, fitted or not (the query's errors propagate): a
        worker's size in /metrics means its start-up query has given its connection back.
        """
        try:
            row = (await self.fetch(_LIMITS_SQL))[0]
            limit = row["max_connections"] - reserved
            if row["role_limit"] >= 0:  # -1: the role has no limit of its own
                limit = min(limit, row["role_limit"])
            fitted = max(1, min(self.size, limit // workers))
            if fitted < self.size:
                log.warning("database pool shrunk from %d to %d connections per worker", self.size, fitted)
                self.size = fitted
                self._slots = asyncio.Semaphore(fitted)  # nothing runs yet: no slot is taken
        finally:
            DB_POOL_SIZE.set(self.size)

    async def fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] = (), *, retry: bool = True) -> list[Row]:
        """Run one statement and return its rows; with `retry`, once more on a fresh connection if a kept one died."""
        try:
            return await self._fetch_once(sql, params)
        except _StaleConnection:
            if not retry:
                raise DatabaseUnavailable("the database connection was lost") from None
        try:
            return await self._fetch_once(sql, params)
        except _StaleConnection:
            raise DatabaseUnavailable("the database connection was lost") from None

    async def _fetch_once(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> list[Row]:
        async with self._connection() as (conn, reused):
            try:
                cursor = conn.cursor()
                cursor.execute(sql, params)
                async with asyncio.timeout(self._answer_timeout):
                    await _wait(conn)
            except psycopg2.errors.QueryCanceled as exc:
                raise DatabaseTimeout("the database took too long to answer") from exc
            except TimeoutError as exc:
                raise DatabaseUnavailable("the database stopped answering") from exc
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                raise (_StaleConnection() if reused else DatabaseUnavailable(str(exc).strip())) from exc
            if cursor.description is None:
                return []
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[tuple[Connection, bool]]:
        """Check a connection out, and whether it was reused; discard it if it failed mid-statement."""
        await self._acquire_slot()
        DB_POOL_IN_USE.inc()
        conn = None
        try:
            conn, reused = self._take_idle(), True
            if conn is None:
                conn, reused = await self._connect(), False
            yield conn, reused
        except BaseException:
            # Cancelled, timed out or broken mid-statement: the connection's state is unknown.
            if conn is not None and (conn.closed or conn.isexecuting()):
                conn.close()
            raise
        finally:
            if conn is not None and not conn.closed:
                self._idle.append(conn)
            self._slots.release()
            DB_POOL_IN_USE.dec()

    async def _acquire_slot(self) -> None:
        """Take a pool slot, waiting at most the acquire timeout."""
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot: no wait, no timer
            return
        DB_POOL_WAITS.inc()
        try:
            async with asyncio.timeout(self._acquire_timeout):
                await self._slots.acquire()
        except TimeoutError:
            DB_POOL_ACQUIRE_TIMEOUTS.inc()
            raise DatabaseUnavailable("every database connection is busy") from None

    def _take_idle(self) -> Connection | None:
        """Pop an idle connection that is still open, closing the ones the server closed."""
        while self._idle:
            conn = self._idle.pop()
            if not _closed_by_server(conn):
                return conn
            conn.close()
        return None

    async def _connect(self) -> Connection:
        """Open a new asynchronous connection within the connect timeout."""
        conn = None
        try:
            conn = psycopg2.connect(async_=True, **self._connect_kwargs)
            async with asyncio.timeout(self._connect_timeout):
                await _wait(conn)
            return conn
        except (psycopg2.OperationalError, TimeoutError) as exc:
            if conn is not None:
                conn.close()
            reason = str(exc).strip() or "connection timed out"
            raise DatabaseUnavailable(f"cannot connect to the database: {reason}") from exc

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()


_LIMITS_SQL = """
SELECT current_setting('max_connections')::int AS max_connections,
       rolconnlimit AS role_limit
  FROM pg_roles WHERE rolname = current_user
"""
