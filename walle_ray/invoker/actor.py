"""Invoker actors: async Ray actors that make the tasks' HTTP calls.

Each actor holds one ``aiohttp.ClientSession`` for its whole life and runs
many calls at once on its event loop. Actors take no CPU reservation, because
they spend their time waiting on the network, and Ray restarts a dead actor
and retries the calls it had in flight.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

import aiohttp
import ray

from walle_ray.invoker.step import TaskStep, run_step
from walle_ray.outputs import PREVIEW_LIMIT_BYTES, cap_output
from walle_ray.results import TaskResult

logger = logging.getLogger(__name__)

# Calls one actor runs at once; the connection limit below is what bounds
# the sockets actually open.
MAX_CONCURRENT_CALLS = 10_000
CONNECTION_LIMIT = 1_000


class Invoker:
    """Runs task calls; the Ray actor class is ``InvokerActor``."""

    def __init__(self, connection_limit: int = CONNECTION_LIMIT) -> None:
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

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
        upstream_refs: list[Any] | None,
        context: dict[str, Any],
        *upstream: TaskResult,
    ) -> tuple[TaskResult, TaskResult]:
        """Run one task; return its summary and its full result.

        Its dependencies arrive either resolved in ``upstream`` or, when
        ``upstream_refs`` is set, as references awaited here one by one so the
        trigger rule is decided as early as possible. ``context`` maps the
        tasks that templates read to references of their full results. The
        summary carries the output capped for records and display.
        """
        waits = upstream if upstream_refs is None else upstream_refs
        result = await run_step(self._get_session(), step, input, waits, context)
        return summarize(result), result

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


InvokerActor = ray.remote(Invoker)


def summarize(result: TaskResult, limit_bytes: int = PREVIEW_LIMIT_BYTES) -> TaskResult:
    """Return ``result`` with its output capped to ``limit_bytes`` of JSON."""
    capped = cap_output(result.output, limit_bytes)
    if capped is result.output:
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
    )


class InvokerPool:
    """A fixed set of invoker actors, handed out round robin."""

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
        prefix = name_prefix or f"walle-invoker-{uuid.uuid4().hex[:8]}"
        self.actors: list[Any] = [
            InvokerActor.options(  # type: ignore[attr-defined]
                name=f"{prefix}-{index}",
                num_cpus=0,
                max_concurrency=MAX_CONCURRENT_CALLS,
                max_restarts=-1,
                max_task_retries=-1,
            ).remote(connection_limit)
            for index in range(self.size)
        ]
        self._next = 0

    def wait_ready(self, timeout_s: float = 120.0) -> list[int]:
        """Block until every actor has started; return their process ids."""
        pids: list[int] = ray.get(
            [actor.ready.remote() for actor in self.actors], timeout=timeout_s
        )
        return pids

    def next_actor(self) -> Any:
        actor = self.actors[self._next % self.size]
        self._next += 1
        return actor

    def shutdown(self) -> None:
        """Close the actors' sessions and end the actors."""
        try:
            ray.get([actor.close.remote() for actor in self.actors], timeout=10)
        except (ray.exceptions.RayError, TimeoutError) as exc:
            logger.warning("closing invoker sessions failed: %s", exc)
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


def default_pool_size() -> int:
    """Pick a pool size: one actor per CPU of the cluster, from 1 to 4."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(4, cpus))
