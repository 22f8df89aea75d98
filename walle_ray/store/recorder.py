"""Recording of one execution into the store while the engine runs it.

The engine calls its listener synchronously in the driver thread, and the
store is async. :class:`StoreRecorder` bridges the two: it owns a thread with
its own event loop and store connection, and the listener methods only queue
writes, so a slow database never delays the execution. The queue keeps the
order of events, so each task's start is written before its result.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import queue
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from walle_ray.results import ExecutionResult, TaskResult
from walle_ray.store.base import Store
from walle_ray.store.sql import open_store
from walle_ray.store.urls import resolve_database_url

logger = logging.getLogger(__name__)

Write = Callable[[Store], Awaitable[None]]

OPEN_TIMEOUT_S = 30.0
"""How long :meth:`StoreRecorder.start` waits to open the store, in seconds."""

DRAIN_TIMEOUT_S = 60.0
"""How long :meth:`StoreRecorder.finish` waits for queued writes, in seconds."""

# Failed writes after this many are logged at DEBUG only; finish() logs the
# total count.
_LOGGED_FAILURES = 3


class TaskEventListener(Protocol):
    """An ``ExecutionListener``, declared here so that the store needs no Ray."""

    def task_started(self, name: str, at: float) -> None: ...

    def task_finished(self, result: TaskResult) -> None: ...


class StoreRecorder:
    """An ``ExecutionListener`` that writes an execution's progress to the store.

    :meth:`start` opens the store and creates the execution as RUNNING, with
    ``detail`` in its detail field. Then each task start and each task result
    is written as it arrives, and :meth:`finish` writes the whole result and
    closes the store. Events also go to ``forward``, when given, before they
    are queued.

    After :meth:`start` succeeded, no store failure raises: each failed write
    is logged with the execution and task ids, and the execution goes on.
    If the process exits before :meth:`finish`, the execution is marked ERROR.
    """

    def __init__(
        self,
        database: str | None,
        *,
        workflow: str,
        mode: str,
        input: Any = None,
        execution_id: str | None = None,
        version: int | None = None,
        forward: TaskEventListener | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.database = database
        self.workflow = workflow
        self.mode = mode
        self.input = input
        self.execution_id = execution_id or str(uuid.uuid4())
        self.version = version
        self.forward = forward
        self.detail = detail
        self.failures = 0
        self.writes = 0
        self._queue: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        """Open the store and create the execution; raise if either fails.

        Raises UnsupportedDatabaseError for an invalid URL, StoreError when
        the database cannot be opened, and TimeoutError after
        :data:`OPEN_TIMEOUT_S`.
        """
        resolve_database_url(self.database)
        opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run,
            args=(opened,),
            name=f"walle-recorder-{self.execution_id[:8]}",
            daemon=True,
        )
        self._thread.start()
        try:
            opened.result(timeout=OPEN_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            self._queue.put(None)
            raise TimeoutError(
                f"opening the store took more than {OPEN_TIMEOUT_S:.0f}s"
            ) from None
        atexit.register(self._exit_unfinished)
        logger.info("recording execution %s in the store", self.execution_id)

    def task_started(self, name: str, at: float) -> None:
        if self.forward is not None:
            self.forward.task_started(name, at)
        execution_id = self.execution_id

        async def write(store: Store) -> None:
            await store.save_task_started(execution_id, name, at)

        self._submit(write, f"start of task {name}")

    def task_finished(self, result: TaskResult) -> None:
        if self.forward is not None:
            self.forward.task_finished(result)
        execution_id = self.execution_id

        async def write(store: Store) -> None:
            await store.save_task_result(execution_id, result)

        self._submit(write, f"result of task {result.name}")

    def finish(self, result: ExecutionResult) -> None:
        """Write the whole result, wait for queued writes and close the store."""

        async def write(store: Store) -> None:
            await store.save_result(result, version=self.version)

        self._submit(write, "execution result")
        self.close()

    def abort(self, error: str) -> None:
        """Mark the execution ERROR with ``error`` and close the store."""
        execution_id = self.execution_id

        async def write(store: Store) -> None:
            await store.update_execution_status(
                execution_id, "ERROR", ended_at=time.time(), error=error
            )

        self._submit(write, "execution error")
        self.close()

    def close(self) -> None:
        """Wait up to :data:`DRAIN_TIMEOUT_S` for queued writes, then stop."""
        if self._closed or self._thread is None:
            return
        self._closed = True
        atexit.unregister(self._exit_unfinished)
        self._queue.put(None)
        self._thread.join(DRAIN_TIMEOUT_S)
        if self._thread.is_alive():
            logger.warning(
                "store writes of execution %s still pending after %.0fs; "
                "the stored execution may be incomplete",
                self.execution_id,
                DRAIN_TIMEOUT_S,
            )
        elif self.failures:
            logger.warning(
                "%d of %d store writes of execution %s failed; "
                "the stored execution is incomplete",
                self.failures,
                self.writes,
                self.execution_id,
            )

    def _exit_unfinished(self) -> None:
        self.abort("walle exited before the execution ended")

    def _submit(self, write: Write, description: str) -> None:
        if self._closed or self._thread is None:
            logger.debug(
                "dropped %s of execution %s: the recorder is stopped",
                description,
                self.execution_id,
            )
            return

        async def logged(store: Store) -> None:
            self.writes += 1
            try:
                await write(store)
            except Exception as exc:
                self.failures += 1
                level = (
                    logging.WARNING
                    if self.failures <= _LOGGED_FAILURES
                    else logging.DEBUG
                )
                logger.log(
                    level,
                    "failed to store the %s of execution %s: %s: %s",
                    description,
                    self.execution_id,
                    type(exc).__name__,
                    exc,
                )

        self._queue.put(logged)

    def _run(self, opened: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        try:
            try:
                store = loop.run_until_complete(self._open())
            except BaseException as exc:
                opened.set_exception(exc)
                return
            opened.set_result(None)
            try:
                while (write := self._queue.get()) is not None:
                    loop.run_until_complete(write(store))
            finally:
                loop.run_until_complete(store.close())
        finally:
            loop.close()

    async def _open(self) -> Store:
        store = await open_store(self.database)
        try:
            await store.create_execution(
                execution_id=self.execution_id,
                workflow=self.workflow,
                version=self.version,
                mode=self.mode,
                input=self.input,
                status="RUNNING",
                detail=self.detail,
            )
            await store.update_execution_status(
                self.execution_id, "RUNNING", started_at=time.time()
            )
        except BaseException:
            await store.close()
            raise
        return store
