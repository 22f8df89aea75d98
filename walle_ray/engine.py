"""Run a workflow on Ray and return its ``ExecutionResult``.

This is the library entry point that the command line and the service
share: it resolves each task's call, picks the execution mode and records
the execution's status and timing.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any

import ray

from walle_ray.errors import ExecutionError
from walle_ray.invoker.actor import InvokerPool
from walle_ray.invoker.http import DEFAULT_MAX_OUTPUT_BYTES, TaskCall
from walle_ray.modes import DEFAULT_MODE, MODES, ExecutionListener, NullListener
from walle_ray.modes.base import ExecutionPlan
from walle_ray.results import ExecutionResult, ExecutionStatus, TaskStatus
from walle_ray.spec import Workflow

logger = logging.getLogger(__name__)


def ensure_ray(address: str | None = None) -> None:
    """Start a local Ray instance, or join ``address`` or ``RAY_ADDRESS``.

    Does nothing when Ray is already initialized in this process.
    """
    if ray.is_initialized():
        return
    target = address or os.environ.get("RAY_ADDRESS") or None
    options: dict[str, Any] = {
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if target is None:
        options["include_dashboard"] = False
    ray.init(address=target, **options)


def build_plan(
    workflow: Workflow,
    *,
    execution_id: str,
    input: Any = None,
    gateway: str | None = None,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
) -> ExecutionPlan:
    """Resolve every task of ``workflow`` into the call an invoker makes.

    A task without ``body`` sends the execution's ``input`` as its body, or
    no body when the input is None. Raises ``ExecutionError`` when a task
    names a function but no gateway is set.
    """
    calls: dict[str, TaskCall] = {}
    for task in workflow.tasks:
        try:
            url = task.resolve_url(gateway)
        except ValueError as exc:
            raise ExecutionError(str(exc)) from None
        body = task.body if task.body is not None else input
        calls[task.name] = TaskCall(
            execution_id=execution_id,
            task=task.name,
            url=url,
            method=task.method,
            headers=dict(task.headers),
            body=body,
            send_body=body is not None,
            timeout_s=task.timeout,
            retry=task.retry,
            max_output_bytes=max_output_bytes,
        )
    return ExecutionPlan(
        execution_id=execution_id,
        workflow=workflow.name,
        dag=workflow.dag(),
        calls=calls,
    )


def run_workflow(
    workflow: Workflow,
    *,
    mode: str = DEFAULT_MODE,
    input: Any = None,
    gateway: str | None = None,
    pool: InvokerPool | None = None,
    listener: ExecutionListener | None = None,
    execution_id: str | None = None,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
) -> ExecutionResult:
    """Run ``workflow`` once in ``mode`` and wait for it to end.

    Starts Ray if needed. Without ``pool`` a pool is created for this
    execution and shut down afterwards. The result is ``SUCCESS`` only when
    every task succeeded.
    """
    if mode not in MODES:
        raise ExecutionError(
            f"invalid execution mode {mode!r}: use one of {', '.join(MODES)}"
        )
    execution_id = execution_id or str(uuid.uuid4())
    plan = build_plan(
        workflow,
        execution_id=execution_id,
        input=input,
        gateway=gateway,
        max_output_bytes=max_output_bytes,
    )
    ensure_ray()
    own_pool = pool is None
    active_pool = pool if pool is not None else InvokerPool()
    try:
        active_pool.wait_ready()
        return execute_plan(
            plan, mode, active_pool, listener or NullListener(), input=input
        )
    finally:
        if own_pool:
            active_pool.shutdown()


def execute_plan(
    plan: ExecutionPlan,
    mode: str,
    pool: InvokerPool,
    listener: ExecutionListener,
    *,
    input: Any = None,
) -> ExecutionResult:
    """Run a resolved plan on a ready pool and build the execution record."""
    logger.info(
        "execution %s of workflow %s started in %s mode (%d tasks)",
        plan.execution_id,
        plan.workflow,
        mode,
        len(plan.dag),
    )
    started_at = time.time()
    results = MODES[mode](plan, pool, listener)
    ended_at = time.time()
    ordered = {name: results[name] for name in plan.calls}
    failed = [r for r in ordered.values() if r.status is not TaskStatus.SUCCESS]
    status = ExecutionStatus.ERROR if failed else ExecutionStatus.SUCCESS
    error = None
    errors = [r for r in failed if r.status is TaskStatus.ERROR]
    if errors:
        first = min(errors, key=lambda r: r.ended_at or ended_at)
        others = len(errors) - 1
        error = f"task '{first.name}' failed: {first.error}"
        if others:
            error += f" (and {others} more failed)"
    logger.info(
        "execution %s of workflow %s ended %s in %.3fs",
        plan.execution_id,
        plan.workflow,
        status.value,
        ended_at - started_at,
    )
    return ExecutionResult(
        execution_id=plan.execution_id,
        workflow=plan.workflow,
        mode=mode,
        status=status,
        started_at=started_at,
        ended_at=ended_at,
        input=input,
        tasks=ordered,
        error=error,
    )
