"""Invoker actors: async Ray actors that make the tasks' HTTP calls.

Each actor holds one ``aiohttp.ClientSession`` for its whole life and runs
many calls at once on its event loop. Actors take no CPU reservation, because
they spend their time waiting on the network, and Ray restarts a dead actor
and retries the calls it had in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
import warnings
from dataclasses import replace
from typing import Any

import aiohttp
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from walle_ray.invoker.http import TaskCall, invoke
from walle_ray.invoker.ledger import (
    FLUSH_INTERVAL_S,
    LedgerActor,
    call_key,
    lost_attempts,
)
from walle_ray.invoker.step import TaskStep, run_step
from walle_ray.outputs import PREVIEW_LIMIT_BYTES, cap_output
from walle_ray.results import Attempt, TaskResult, TaskStatus

logger = logging.getLogger(__name__)

# Calls one actor runs at once; the connection limit below is what bounds
# the sockets actually open.
MAX_CONCURRENT_CALLS = 10_000
CONNECTION_LIMIT = 1_000

# Ended executions the pool collects before it sends them to the ledger, and
# the longest it waits to send them.
FORGET_BATCH = 256
FORGET_INTERVAL_S = 1.0


class Invoker:
    """Runs task calls; the Ray actor class is ``InvokerActor``.

    With ``ledger``, the name of an ``AttemptLedger`` actor, it reports the
    calls it starts, and after Ray restarted it, it adds the attempts lost
    with the previous actor to each call's record.
    """

    def __init__(
        self, connection_limit: int = CONNECTION_LIMIT, ledger: str | None = None
    ) -> None:
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None
        # A name, not a handle: Ray cannot restart an actor whose constructor
        # arguments live in the object store and have gone out of scope.
        self._ledger: Any = ray.get_actor(ledger) if ledger is not None else None
        self._restarted = ledger is not None and _was_restarted()
        self._starts: list[tuple[str, str, float]] = []
        self._flusher: asyncio.Task[None] | None = None
        if self._restarted:
            logger.warning("invoker actor %s restarted", os.getpid())

    def _get_session(self) -> aiohttp.ClientSession:
        # The session must be created inside the actor's running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._connection_limit, limit_per_host=0, ttl_dns_cache=300
            )
            # Each attempt carries its own timeout, so the session has none.
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
            )
        return self._session

    async def ready(self) -> int:
        """Return the actor's process id once it is up."""
        return os.getpid()

    @ray.method(num_returns=2)  # type: ignore[untyped-decorator]
    async def run(
        self,
        step: TaskStep,
        input: Any,
        context: dict[str, Any],
        *upstream: TaskResult,
    ) -> tuple[TaskResult, TaskResult]:
        """Run one task; return its summary and its full result.

        ``upstream`` holds the results of the dependencies that decide the
        task's trigger rule, resolved by Ray before the call. ``context``
        maps the tasks that templates read to references of their full
        results. The summary carries the output capped for records and
        display.
        """
        try:
            result = await run_step(
                self._get_session(),
                step,
                input,
                upstream,
                context,
                call_function=self._invoke if self._ledger is not None else invoke,
            )
        except Exception as exc:
            # Dependents receive a failed result and apply their own trigger
            # rule, which an exception raised here would keep from running.
            logger.exception(
                "execution %s task %s: invoker failed", step.execution_id, step.task
            )
            result = TaskResult(
                name=step.task,
                status=TaskStatus.ERROR,
                ended_at=time.time(),
                error=f"invoker failed: {type(exc).__name__}: {exc}",
            )
        return summarize(result), result

    async def _invoke(
        self, session: aiohttp.ClientSession, call: TaskCall
    ) -> TaskResult:
        """Make one call, recording its start and any attempts lost before it."""
        key = call_key(call)
        lost: list[Attempt] = []
        if self._restarted:
            starts = await self._ledger.started.remote(call.execution_id, key)
            if starts:
                lost = lost_attempts(starts)
                for attempt in lost:
                    attempt.item = call.item
                call = replace(call, first_attempt=len(lost) + 1)
                logger.warning(
                    "execution %s task %s: %d attempts lost with a dead invoker",
                    call.execution_id,
                    key,
                    len(lost),
                )
        self._starts.append((call.execution_id, key, time.time()))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())
        result = await invoke(session, call)
        if lost:
            result.attempts[:0] = lost
        return result

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_INTERVAL_S)
        starts, self._starts = self._starts, []
        if starts:
            self._ledger.record.remote(starts)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


InvokerActor = ray.remote(Invoker)


def _was_restarted() -> bool:
    """Tell whether Ray restarted the actor this runs in."""
    # Ray 2.60's property reads its own deprecated ``actor_id`` attribute and
    # warns about it on every call.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)


def summarize(result: TaskResult, limit_bytes: int = PREVIEW_LIMIT_BYTES) -> TaskResult:
    """Return ``result`` with its output and input capped to ``limit_bytes``."""
    capped = cap_output(result.output, limit_bytes)
    capped_input = cap_output(result.input, limit_bytes)
    if capped is result.output and capped_input is result.input:
        return result
    return TaskResult(
        name=result.name,
        status=result.status,
        attempts=result.attempts,
        started_at=result.started_at,
        ended_at=result.ended_at,
        output=capped,
        error=result.error,
        items=result.items,
        input=capped_input,
    )


class InvokerPool:
    """A fixed set of invoker actors, handed out round robin.

    The pool also starts the ``AttemptLedger`` actor its invokers report to,
    on the node that creates the pool. Subclasses place the invokers by
    overriding ``scheduling_strategy``.
    """

    def __init__(
        self,
        size: int | None = None,
        *,
        name_prefix: str | None = None,
        connection_limit: int = CONNECTION_LIMIT,
    ) -> None:
        self.size = size if size is not None else default_pool_size()
        if self.size < 1:
            raise ValueError(f"invalid invoker pool size {self.size}: use 1 or more")
        self.name_prefix = name_prefix or f"walle-invoker-{uuid.uuid4().hex[:8]}"
        self.connection_limit = connection_limit
        self.ledger_name = f"{self.name_prefix}-ledger"
        self.ledger: Any = LedgerActor.options(  # type: ignore[attr-defined]
            name=self.ledger_name,
            num_cpus=0,
            max_restarts=-1,
            # Hard affinity: with soft affinity a busy cluster may place the
            # ledger on another node, whose loss would erase the record.
            scheduling_strategy=NodeAffinitySchedulingStrategy(
                ray.get_runtime_context().get_node_id(), soft=False
            ),
        ).remote()
        self.actors: list[Any] = [self.create_actor(i) for i in range(self.size)]
        self._next = 0
        self._pids: list[int] | None = None
        self._ended: list[str] = []
        self._first_ended_at = 0.0
        self._forget_lock = threading.Lock()

    def scheduling_strategy(self, index: int) -> Any:
        """Return where actor ``index`` runs; Ray's default placement here."""
        return "DEFAULT"

    def create_actor(self, index: int, generation: int = 0) -> Any:
        """Start invoker actor ``index``; ``generation`` counts its replacements."""
        # A killed actor's name is released asynchronously, so a replacement
        # gets a name of its own.
        suffix = f"{index}" if generation == 0 else f"{index}-{generation}"
        return InvokerActor.options(  # type: ignore[attr-defined]
            name=f"{self.name_prefix}-{suffix}",
            num_cpus=0,
            max_concurrency=MAX_CONCURRENT_CALLS,
            max_restarts=-1,
            max_task_retries=-1,
            scheduling_strategy=self.scheduling_strategy(index),
        ).remote(self.connection_limit, self.ledger_name)

    def wait_ready(self, timeout_s: float = 120.0) -> list[int]:
        """Block until every actor has started; return their process ids.

        After the first success the ids are remembered and returned at once;
        Ray restarts actors that die later.
        """
        if self._pids is None:
            self._pids = ray.get(
                [actor.ready.remote() for actor in self.actors], timeout=timeout_s
            )
        return self._pids

    def next_actor(self) -> Any:
        actor = self.actors[self._next % self.size]
        self._next += 1
        return actor

    def forget(self, execution_id: str) -> None:
        """Drop the ledger's record of an execution that has ended.

        Ended executions are sent to the ledger in batches of up to
        ``FORGET_BATCH``, so that many short executions cost one actor call
        between them. A batch is sent when it is full, or with the first
        execution that ends ``FORGET_INTERVAL_S`` after the batch's first.
        """
        with self._forget_lock:
            now = time.monotonic()
            if not self._ended:
                self._first_ended_at = now
            self._ended.append(execution_id)
            if (
                len(self._ended) < FORGET_BATCH
                and now - self._first_ended_at < FORGET_INTERVAL_S
            ):
                return
            ended, self._ended = self._ended, []
        self.ledger.forget.remote(*ended)

    def shutdown(self) -> None:
        """Close the actors' sessions and end the actors."""
        try:
            ray.get([actor.close.remote() for actor in self.actors], timeout=10)
        except (ray.exceptions.RayError, TimeoutError) as exc:
            logger.warning("closing invoker sessions failed: %s", exc)
        for actor in [*self.actors, self.ledger]:
            ray.kill(actor)
        self.actors = []


def default_pool_size() -> int:
    """Pick a pool size: one actor per CPU of the cluster, from 1 to 4."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(4, cpus))
