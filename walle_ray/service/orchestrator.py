"""The orchestrator: runs executions outside HTTP requests and records them.

``Orchestrator`` is the body of a detached, named async Ray actor
(``OrchestratorActor``). Each execution runs ``run_workflow`` in a thread of
the actor, with one ``InvokerPool`` shared by all executions. Task events
reach the store as tasks finish, through a ``StoreWriter`` that commits them
in batches without blocking the execution, and an execution's final write
follows them in the same or a later transaction. When Ray restarts the actor
after a crash, the new instance resumes every unfinished execution and
reuses the results of the tasks whose success was stored. A task that was
running at the crash, or whose result was still queued, is called again, so
functions should be idempotent. Every call carries an ``Idempotency-Key``
header that functions can deduplicate on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import ray

from walle_ray.control import ExecutionControl
from walle_ray.engine import run_workflow
from walle_ray.errors import WalleError
from walle_ray.results import (
    ExecutionResult,
    ExecutionStatus,
    TaskResult,
    iso_timestamp,
)
from walle_ray.service.config import ServiceConfig
from walle_ray.service.convert import parse_stored_spec, succeeded_tasks
from walle_ray.service.events import (
    EXECUTION_FINISHED,
    EXECUTION_STARTED,
    TASK_FINISHED,
    TASK_STARTED,
    EventLog,
)
from walle_ray.service.metrics import ServiceMetrics
from walle_ray.service.writer import StoreWriter
from walle_ray.spec import Workflow, load_workflow
from walle_ray.store import (
    ExecutionResultWrite,
    ExecutionStatusWrite,
    Store,
    TaskResultWrite,
    TaskStartWrite,
    open_store,
)
from walle_ray.store.runner import end_orphaned, runner_of

logger = logging.getLogger(__name__)

# NOTE: each open event stream and each waiting sync trigger uses one of
# these slots for up to 15 s or the trigger wait. More than about this many at
# once delay the calls that start and cancel executions.
MAX_ACTOR_CONCURRENCY = 1000
RECENT_LOGS_KEPT = 1000
POOL_CREATE_ATTEMPTS = 30


def _event_base() -> int:
    """Return the base of a new event log: microseconds since the epoch.

    A log made after an orchestrator restart therefore numbers its events
    above every event of the logs before it.
    NOTE: this holds only while the clock does not step back across the
    restart.
    """
    return time.time_ns() // 1_000


@dataclass(slots=True)
class _Run:
    """An execution this orchestrator instance runs or has queued."""

    execution_id: str
    workflow: Workflow
    version: int | None
    mode: str
    input: Any
    reuse: dict[str, TaskResult]
    control: ExecutionControl = field(default_factory=ExecutionControl)
    log: EventLog = field(default_factory=lambda: EventLog(base=_event_base()))
    started: set[str] = field(default_factory=set)
    # The result of each task whose write is queued or stored.
    recorded: dict[str, TaskResult] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class _StoreListener:
    """Forwards task events from the execution thread to the actor's loop.

    Neither event waits for the store: the loop queues each write in the
    order of the events, and the execution's final write comes after them.
    """

    def __init__(
        self,
        orchestrator: Orchestrator,
        run: _Run,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._orchestrator = orchestrator
        self._run = run
        self._loop = loop

    def task_started(self, name: str, at: float) -> None:
        self._loop.call_soon_threadsafe(
            self._orchestrator._task_started, self._run, name, at
        )

    def task_finished(self, result: TaskResult) -> None:
        self._loop.call_soon_threadsafe(
            self._orchestrator._task_finished, self._run, result
        )


class Orchestrator:
    """Starts, tracks, cancels and resumes executions; see the module docs.

    Must be constructed inside a running event loop (Ray runs an async
    actor's ``__init__`` on its loop). Startup, which opens the store,
    starts the gateway and the invoker pool and resumes unfinished
    executions, begins at once; every public method waits for it.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = ServiceConfig.from_dict(config)
        self._loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.config.max_concurrent_executions,
            thread_name_prefix="walle-execution",
        )
        self._runs: dict[str, _Run] = {}
        self._logs: OrderedDict[str, EventLog] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._metrics = ServiceMetrics()
        self._store: Store | None = None
        self._writer: StoreWriter | None = None
        self._gateway: Any = None
        self._gateway_url: str | None = self.config.gateway_url
        self._pool: Any = None
        self._resumed = 0
        self._startup = self._loop.create_task(self._start())

    # -- startup -------------------------------------------------------------

    async def _start(self) -> None:
        self._store = await open_store(self.config.database_url)
        self._writer = StoreWriter(self._store)
        if self._gateway_url is None:
            self._gateway_url = await asyncio.to_thread(self._start_gateway)
        self._pool = await asyncio.to_thread(self._create_pool)
        await self._resume_unfinished()
        logger.info(
            "orchestrator ready in process %d: gateway %s, %d invokers, "
            "%d executions resumed",
            os.getpid(),
            self._gateway_url,
            self._pool.size,
            self._resumed,
        )

    def _start_gateway(self) -> str:
        from walle_ray.gateway import LocalGateway

        gateway = LocalGateway(self.config.functions_dirs)
        url = gateway.start()
        self._gateway = gateway
        return url

    def _create_pool(self) -> Any:
        from walle_ray.invoker import InvokerPool
        from walle_ray.kube.spread import SpreadInvokerPool, alive_nodes

        # On a cluster, spread the invokers so that losing a node takes only
        # part of the pool. The local gateway listens on this node's loopback
        # address only, so with it every invoker stays here.
        pool_class: type[InvokerPool] = InvokerPool
        if self.config.gateway_url and len(alive_nodes()) > 1:
            pool_class = SpreadInvokerPool

        # A restarted orchestrator reuses the invoker names. Ray ends the
        # previous instance's invokers with it, but a name can stay taken
        # for a moment, so creation is retried.
        for attempt in range(1, POOL_CREATE_ATTEMPTS + 1):
            try:
                pool = pool_class(
                    self.config.invokers, name_prefix=self.config.invoker_prefix
                )
            except ValueError as exc:
                if attempt == POOL_CREATE_ATTEMPTS:
                    raise
                logger.info("invoker names still taken (%s); retrying", exc)
                self._kill_named_invokers()
                time.sleep(1.0)
                continue
            pool.wait_ready()
            return pool
        raise AssertionError("unreachable")

    def _kill_named_invokers(self) -> None:
        size = self.config.invokers or 4
        for index in range(size):
            name = f"{self.config.invoker_prefix}-{index}"
            try:
                ray.kill(ray.get_actor(name))
            except ValueError:
                continue

    async def _ready(self) -> Store:
        await asyncio.shield(self._startup)
        assert self._store is not None
        return self._store

    async def _resume_unfinished(self) -> None:
        store = self._store
        assert store is not None
        records = await store.list_unfinished_executions()
        await end_orphaned(store, records)
        for record in records:
            runner = runner_of(record)
            if runner is not None:
                # Another process runs it, or did and was just marked ERROR.
                logger.info(
                    "execution %s is run by %s (pid %s on %s), not resumed here",
                    record.execution_id,
                    runner.get("kind"),
                    runner.get("pid"),
                    runner.get("host"),
                )
                continue
            if record.version is None:
                await self._fail_unstartable(
                    record.execution_id,
                    "cannot resume: it was recorded without a workflow version, "
                    "as walle run records; run the workflow again",
                )
                continue
            version = await store.get_workflow_version(record.workflow, record.version)
            if version is None:
                await self._fail_unstartable(
                    record.execution_id,
                    f"cannot resume: version {record.version} of workflow "
                    f"'{record.workflow}' is not stored",
                )
                continue
            try:
                workflow = load_workflow(version.spec_yaml)
            except WalleError as exc:
                await self._fail_unstartable(
                    record.execution_id, f"cannot resume: the stored spec fails: {exc}"
                )
                continue
            reuse = succeeded_tasks(record)
            logger.info(
                "execution %s of workflow %s resumed with %d succeeded tasks reused",
                record.execution_id,
                record.workflow,
                len(reuse),
            )
            self._launch(
                _Run(
                    execution_id=record.execution_id,
                    workflow=workflow,
                    version=record.version,
                    mode=record.mode,
                    input=record.input,
                    reuse=reuse,
                )
            )
            self._resumed += 1

    async def _fail_unstartable(self, execution_id: str, error: str) -> None:
        assert self._store is not None
        logger.error("execution %s: %s", execution_id, error)
        await self._store.update_execution_status(
            execution_id,
            ExecutionStatus.ERROR.value,
            ended_at=time.time(),
            error=error,
        )

    # -- public methods (called through the actor handle) --------------------

    async def ready(self) -> dict[str, Any]:
        """Wait for startup and describe this instance."""
        await self._ready()
        return {
            "pid": os.getpid(),
            "gateway": self._gateway_url,
            "invokers": self._pool.size if self._pool is not None else 0,
            "resumed": self._resumed,
            "running": len(self._runs),
        }

    async def start(
        self,
        *,
        workflow: str,
        version: int,
        spec_yaml: str,
        mode: str,
        input: Any = None,
        idempotency_key: str | None = None,
        retry_of: str | None = None,
        wait_s: float | None = None,
    ) -> dict[str, Any]:
        """Create an execution and start it; return ``{"execution", "created"}``.

        When ``idempotency_key`` was used before for ``workflow``, the stored
        execution is returned at once with ``created`` False, without
        ``ended``, and nothing starts. With ``retry_of``, the tasks that
        succeeded in that execution are copied to the new one and not run
        again. With ``wait_s``, the call then waits like :meth:`wait`, and the
        reply's ``ended`` is True when the execution ended in time.
        ``execution`` is the record as created.
        """
        store = await self._ready()
        parsed = parse_stored_spec(spec_yaml)
        reuse: dict[str, TaskResult] = {}
        if retry_of is not None:
            original = await store.get_execution(retry_of)
            if original is None:
                raise LookupError(f"execution '{retry_of}' not found")
            reuse = succeeded_tasks(original)
        execution_id = str(uuid.uuid4())
        record = await store.create_execution(
            execution_id=execution_id,
            workflow=workflow,
            version=version,
            mode=mode,
            input=input,
            idempotency_key=idempotency_key,
        )
        if record.execution_id != execution_id:
            logger.info(
                "idempotency key of workflow %s matched execution %s",
                workflow,
                record.execution_id,
            )
            # The caller first checks that the request matches the one that
            # used the key, then waits itself, so a mismatch is reported at once.
            return {"execution": record.to_dict(), "created": False}
        if reuse:
            await store.save_task_results(execution_id, reuse.values())
            reread = await store.get_execution(execution_id)
            assert reread is not None
            record = reread
        self._launch(
            _Run(
                execution_id=execution_id,
                workflow=parsed,
                version=version,
                mode=mode,
                input=input,
                reuse=reuse,
            )
        )
        logger.info(
            "execution %s of workflow %s (version %s) queued in %s mode%s",
            execution_id,
            workflow,
            version,
            mode,
            f" as a retry of {retry_of}" if retry_of else "",
        )
        reply = {"execution": record.to_dict(), "created": True}
        if wait_s is not None:
            reply["ended"] = await self.wait(execution_id, wait_s)
        return reply

    async def cancel(
        self, execution_id: str, reason: str = "cancelled by request"
    ) -> str:
        """Ask a running execution to stop.

        Returns ``"cancelling"``, or ``"not_running"`` when this orchestrator
        does not run the execution (it ended, or never existed).
        """
        await self._ready()
        run = self._runs.get(execution_id)
        if run is None:
            return "not_running"
        logger.info("execution %s: cancel requested (%s)", execution_id, reason)
        run.control.cancel(reason)
        return "cancelling"

    async def wait(self, execution_id: str, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for an execution to end; return whether it did.

        An execution this orchestrator does not run counts as ended.
        """
        await self._ready()
        run = self._runs.get(execution_id)
        if run is None:
            return True
        try:
            await asyncio.wait_for(run.done.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def last_event(self, execution_id: str) -> int | None:
        """Return the sequence number of the execution's newest event.

        Returns None when no events of the execution are kept.
        """
        await self._ready()
        log = self._logs.get(execution_id)
        return None if log is None else log.last_seq

    async def events(
        self, execution_id: str, after: int, timeout_s: float
    ) -> dict[str, Any]:
        """Return the events after ``after``, waiting up to ``timeout_s`` for one.

        ``known`` is False when no events of the execution are kept, and
        ``closed`` is True once its final event is in the log. ``reset`` is
        True when ``after`` is not an id of the current log's events.
        """
        await self._ready()
        log = self._logs.get(execution_id)
        if log is None:
            return {"known": False, "closed": False, "events": []}
        if log.foreign(after):
            # The id comes from an orchestrator before a restart, or from
            # elsewhere: the caller starts over from a snapshot of the store.
            return {"known": True, "closed": False, "events": [], "reset": True}
        found = await log.wait_after(after, timeout_s)
        return {
            "known": True,
            "closed": log.closed and (not found or found[-1].seq == log.last_seq),
            "events": [event.to_dict() for event in found],
        }

    async def metrics_recorded(self) -> int:
        """Return how many times the orchestrator updated its metrics."""
        return self._metrics.recorded

    # -- running executions --------------------------------------------------

    def _launch(self, run: _Run) -> None:
        self._runs[run.execution_id] = run
        self._logs[run.execution_id] = run.log
        self._trim_logs()
        task = self._loop.create_task(self._supervise(run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _trim_logs(self) -> None:
        # Logs of finished executions are dropped oldest first; logs of
        # running executions always stay.
        excess = len(self._logs) - RECENT_LOGS_KEPT
        if excess <= 0:
            return
        for execution_id in list(self._logs):
            if excess <= 0:
                return
            if execution_id not in self._runs:
                del self._logs[execution_id]
                excess -= 1

    async def _supervise(self, run: _Run) -> None:
        try:
            result = await self._loop.run_in_executor(
                self._executor, self._run_in_thread, run
            )
            if result is None:
                result = self._cancelled_before_start(run)
            await self._finish(run, result)
        except Exception as exc:
            logger.exception("execution %s failed in the engine", run.execution_id)
            await self._finish_with_error(run, f"{type(exc).__name__}: {exc}")
        finally:
            self._runs.pop(run.execution_id, None)
            run.done.set()

    def _run_in_thread(self, run: _Run) -> ExecutionResult | None:
        if run.control.cancelled:
            return None
        self._loop.call_soon_threadsafe(self._mark_running, run, time.time())
        listener = _StoreListener(self, run, self._loop)
        return run_workflow(
            run.workflow,
            mode=run.mode,
            input=run.input,
            gateway=self._gateway_url,
            pool=self._pool,
            listener=listener,
            execution_id=run.execution_id,
            reuse=run.reuse,
            control=run.control,
        )

    def _cancelled_before_start(self, run: _Run) -> ExecutionResult:
        now = time.time()
        return ExecutionResult(
            execution_id=run.execution_id,
            workflow=run.workflow.name,
            mode=run.mode,
            status=ExecutionStatus.CANCELLED,
            started_at=now,
            ended_at=now,
            input=run.input,
            error=run.control.reason or "cancelled before it started",
        )

    def _mark_running(self, run: _Run, at: float) -> None:
        assert self._writer is not None
        self._metrics.execution_started(run.workflow.name, run.mode)
        self._writer.post(
            ExecutionStatusWrite(
                run.execution_id, ExecutionStatus.RUNNING.value, started_at=at
            ),
            after=functools.partial(self._append_execution_started, run, at),
        )

    async def _append_execution_started(self, run: _Run, at: float) -> None:
        await run.log.append(
            EXECUTION_STARTED,
            {
                "execution_id": run.execution_id,
                "workflow": run.workflow.name,
                "mode": run.mode,
                "at": iso_timestamp(at),
                "reused": sorted(run.reuse),
            },
        )

    def _task_started(self, run: _Run, name: str, at: float) -> None:
        assert self._writer is not None
        self._writer.post(
            TaskStartWrite(run.execution_id, name, at),
            after=functools.partial(self._append_task_started, run, name, at),
        )

    async def _append_task_started(self, run: _Run, name: str, at: float) -> None:
        run.started.add(name)
        await run.log.append(
            TASK_STARTED,
            {"execution_id": run.execution_id, "task": name, "at": iso_timestamp(at)},
        )

    def _task_finished(self, run: _Run, result: TaskResult) -> None:
        assert self._writer is not None
        run.recorded[result.name] = result
        self._writer.post(
            TaskResultWrite(run.execution_id, result),
            after=functools.partial(self._append_task_finished, run, result),
        )

    async def _append_task_finished(self, run: _Run, result: TaskResult) -> None:
        self._metrics.task_finished(run.workflow.name, result)
        if result.name not in run.started and result.started_at is not None:
            # In full mode a task can end before the engine reports its start,
            # so the start event is added here to keep every stream complete.
            await self._append_task_started(run, result.name, result.started_at)
        data = result.to_dict()
        data["task"] = data.pop("name")
        data["execution_id"] = run.execution_id
        await run.log.append(TASK_FINISHED, data)

    async def _finish(self, run: _Run, result: ExecutionResult) -> None:
        assert self._writer is not None
        # Task results already queued are committed before or with this
        # write, so only the ones that differ from them are written again.
        changed = [
            name
            for name, task in result.tasks.items()
            if run.recorded.get(name) != task
        ]
        await self._writer.submit(
            ExecutionResultWrite(
                result, version=run.version, output=result.output, tasks=changed
            )
        )
        await self._close_log(run, result.status.value, result.ended_at, result.error)
        logger.info(
            "execution %s of workflow %s recorded as %s",
            run.execution_id,
            run.workflow.name,
            result.status.value,
        )

    async def _finish_with_error(self, run: _Run, error: str) -> None:
        assert self._writer is not None
        now = time.time()
        try:
            # Through the writer, so that no queued write of this execution
            # lands after this one.
            await self._writer.submit(
                ExecutionStatusWrite(
                    run.execution_id,
                    ExecutionStatus.ERROR.value,
                    ended_at=now,
                    error=error,
                )
            )
        except Exception:
            logger.exception(
                "execution %s: recording its failure failed", run.execution_id
            )
        await self._close_log(run, ExecutionStatus.ERROR.value, now, error)

    async def _close_log(
        self, run: _Run, status: str, ended_at: float | None, error: str | None
    ) -> None:
        self._metrics.execution_finished(run.workflow.name, status)
        if run.log.closed:
            return
        await run.log.append(
            EXECUTION_FINISHED,
            {
                "execution_id": run.execution_id,
                "status": status,
                "at": iso_timestamp(ended_at),
                "error": error,
            },
            final=True,
        )


OrchestratorActor = ray.remote(Orchestrator)


def get_orchestrator(config: ServiceConfig) -> Any:
    """Return the handle of the named orchestrator actor, creating it if absent.

    An orchestrator that already runs under ``config.orchestrator_name`` is
    returned as it is, with the settings it was created with.
    """
    return OrchestratorActor.options(  # type: ignore[attr-defined]
        name=config.orchestrator_name,
        namespace=config.namespace,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_concurrency=MAX_ACTOR_CONCURRENCY,
        num_cpus=0,
        # Executions call ray.get from worker threads, never from the event
        # loop, so Ray's warning about blocking calls in async actors is moot.
        runtime_env={"env_vars": {"RAY_WARN_BLOCKING_GET_INSIDE_ASYNC": "0"}},
    ).remote(config.to_dict())
