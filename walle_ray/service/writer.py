"""Write-behind of the orchestrator's store writes, committed in batches.

Execution threads queue task events without waiting, and one coroutine
commits everything queued so far in one transaction. Writes are committed in
the order they were queued. A task's result is therefore stored no later
than the result of any task that depends on it. An execution's final write
is queued after its task events, so it is stored no earlier than they are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from walle_ray.store import (
    ExecutionResultWrite,
    ExecutionStatusWrite,
    Store,
    StoreWrite,
    TaskResultWrite,
    TaskStartWrite,
)

logger = logging.getLogger(__name__)

MAX_BATCH_WRITES = 500
"""Maximum number of writes committed in one transaction."""

AfterCommit = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class _Queued:
    write: StoreWrite
    after: AfterCommit | None
    future: asyncio.Future[None] | None


def _execution_id(write: StoreWrite) -> str:
    if isinstance(write, ExecutionResultWrite):
        return write.result.execution_id
    return write.execution_id


def _describe(write: StoreWrite) -> str:
    if isinstance(write, TaskStartWrite):
        return f"start of task {write.task}"
    if isinstance(write, TaskResultWrite):
        return f"result of task {write.result.name}"
    if isinstance(write, ExecutionStatusWrite):
        return f"status {write.status}"
    return f"final status {write.result.status}"


class StoreWriter:
    """Commits queued writes in queue order, up to ``MAX_BATCH_WRITES`` at a time.

    Must be created inside the event loop that calls it. When a batch fails,
    its writes are retried one at a time, so that one invalid write does not
    lose the others. A task result write that still fails is logged, and the
    execution's final write then stores every task run, not only the ones it
    names.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._loop = asyncio.get_running_loop()
        self._queue: deque[_Queued] = deque()
        self._queued = asyncio.Event()
        # Executions with a task write that failed for good.
        self._failed: set[str] = set()
        self._task = self._loop.create_task(self._run())

    def post(self, write: StoreWrite, after: AfterCommit | None = None) -> None:
        """Queue ``write``; run ``after`` once it is committed.

        A failure is logged, and ``after`` does not run then.
        """
        self._queue.append(_Queued(write, after, None))
        self._queued.set()

    def submit(
        self, write: StoreWrite, after: AfterCommit | None = None
    ) -> asyncio.Future[None]:
        """Queue ``write``; return a future that is done once it is committed.

        The future raises the write's error when it fails.
        """
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.append(_Queued(write, after, future))
        self._queued.set()
        return future

    async def _run(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                count = min(len(self._queue), MAX_BATCH_WRITES)
                batch = [self._queue.popleft() for _ in range(count)]
                try:
                    await self._commit(batch)
                except Exception:
                    # _commit handles store errors, so only a bug gets
                    # here. Later writes must still go out.
                    logger.exception("committing %d store writes failed", count)

    async def _commit(self, batch: list[_Queued]) -> None:
        for item in batch:
            item.write = self._widen_final_write(item.write)
        try:
            await self._store.apply_writes([item.write for item in batch])
        except Exception as exc:
            if len(batch) == 1:
                await self._settle(batch[0], exc)
                return
            logger.warning(
                "committing %d store writes together failed (%s: %s); "
                "committing them one at a time",
                len(batch),
                type(exc).__name__,
                exc,
            )
            for item in batch:
                item.write = self._widen_final_write(item.write)
                await self._settle(item, await self._apply_one(item.write))
            return
        for item in batch:
            await self._settle(item, None)

    async def _apply_one(self, write: StoreWrite) -> Exception | None:
        try:
            await self._store.apply_writes([write])
        except Exception as exc:
            return exc
        return None

    def _widen_final_write(self, write: StoreWrite) -> StoreWrite:
        """Make a final write store every task when a task write failed before."""
        if not isinstance(write, ExecutionResultWrite):
            return write
        if write.result.execution_id not in self._failed:
            return write
        self._failed.discard(write.result.execution_id)
        return dataclasses.replace(write, tasks=None)

    async def _settle(self, item: _Queued, error: Exception | None) -> None:
        if error is not None:
            if isinstance(item.write, TaskResultWrite):
                self._failed.add(item.write.execution_id)
            if item.future is not None:
                if not item.future.done():
                    item.future.set_exception(error)
                return
            logger.error(
                "execution %s: storing the %s failed: %s: %s",
                _execution_id(item.write),
                _describe(item.write),
                type(error).__name__,
                error,
            )
            return
        if item.after is not None:
            try:
                await item.after()
            except Exception:
                logger.exception(
                    "execution %s: handling the stored %s failed",
                    _execution_id(item.write),
                    _describe(item.write),
                )
        if item.future is not None and not item.future.done():
            item.future.set_result(None)
