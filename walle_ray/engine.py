"""Run a workflow on Ray and return its ``ExecutionResult``.

This is the library entry point that the command line and the service
share: it resolves each task's call, picks the execution mode and records
the execution's status and timing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any

import ray

from walle_ray.control import ExecutionControl
from walle_ray.errors import ExecutionError
from walle_ray.expressions import ExpressionError, render_value, template_paths
from walle_ray.invoker.actor import InvokerPool
from walle_ray.invoker.http import DEFAULT_MAX_OUTPUT_BYTES
from walle_ray.invoker.step import TaskStep
from walle_ray.modes import DEFAULT_MODE, MODES, ExecutionListener, NullListener
from walle_ray.modes.base import ExecutionPlan, Run
from walle_ray.outputs import is_truncated
from walle_ray.results import (
    ExecutionResult,
    ExecutionStatus,
    TaskResult,
    TaskStatus,
)
from walle_ray.spec import Workflow

logger = logging.getLogger(__name__)


RAY_CONNECT_TIMEOUT_S = 5.0
"""How long ``ensure_ray`` waits for a TCP connection to a given Ray address."""


def ensure_ray(address: str | None = None) -> None:
    """Start a local Ray instance, or join ``address`` or ``RAY_ADDRESS``.

    Without an address a new instance is started even when a cluster started
    with ``ray start`` runs on this machine; set ``RAY_ADDRESS=auto`` to join
    that one. Does nothing when Ray is already initialized in this process.
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
        target = "local"
        options["include_dashboard"] = False
    else:
        # ray.init keeps retrying an address where nothing listens.
        check_reachable(target)
    ray.init(address=target, **options)


def check_reachable(address: str, timeout_s: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Raise ``ConnectionError`` when nothing accepts connections at ``address``.

    Checks ``host:port`` and ``ray://host:port`` addresses with one TCP
    connection; ``auto``, ``local`` and addresses without a numeric port are
    left to ``ray.init``.
    """
    host_port = address.removeprefix("ray://")
    host, _, port_text = host_port.rpartition(":")
    if not host or not port_text.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout_s):
            pass
    except OSError as exc:
        raise ConnectionError(
            f"no Ray cluster reachable at {address!r} within {timeout_s:g}s: {exc}"
        ) from None


def build_plan(
    workflow: Workflow,
    *,
    execution_id: str,
    input: Any = None,
    gateway: str | None = None,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    reuse: Mapping[str, TaskResult] | None = None,
) -> ExecutionPlan:
    """Resolve every task of ``workflow`` into the step an invoker runs.

    A task without ``body`` sends the execution's ``input`` as its body, or
    no body when the input is None. Raises ``ExecutionError`` when a task
    names a function but no gateway is set. Only successful results in
    ``reuse`` whose outputs were not truncated are reused.
    """
    steps: dict[str, TaskStep] = {}
    for task in workflow.tasks:
        try:
            url = task.resolve_url(gateway)
        except ValueError as exc:
            raise ExecutionError(str(exc)) from None
        body = task.body if task.body is not None else input
        templated = bool(
            template_paths(
                [url, dict(task.headers), task.body if task.body is not None else None]
            )
        )
        steps[task.name] = TaskStep(
            execution_id=execution_id,
            workflow=workflow.name,
            task=task.name,
            url=url,
            method=task.method,
            headers=dict(task.headers),
            body=body,
            send_body=body is not None,
            timeout_s=task.timeout,
            retry=task.retry,
            rule=task.trigger_rule,
            depends=task.depends,
            when=task.when,
            for_each=task.for_each,
            max_concurrency=task.max_concurrency,
            context_tasks=tuple(sorted(task.referenced_tasks())),
            templated=templated or task.for_each is not None,
            max_output_bytes=max_output_bytes,
        )
    reusable = {
        name: result
        for name, result in (reuse or {}).items()
        if name in steps
        and result.status is TaskStatus.SUCCESS
        and not is_truncated(result.output)
    }
    return ExecutionPlan(
        execution_id=execution_id,
        workflow=workflow.name,
        dag=workflow.dag(),
        steps=steps,
        input=input,
        on_failure=workflow.on_failure,
        timeout_s=workflow.timeout,
        reuse=reusable,
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
    reuse: Mapping[str, TaskResult] | None = None,
    control: ExecutionControl | None = None,
) -> ExecutionResult:
    """Run ``workflow`` once in ``mode`` and wait for it to end.

    Starts Ray if needed. Without ``pool`` a pool is created for this
    execution and shut down afterwards. ``reuse`` gives results of tasks that
    succeeded before, which are not run again; ``control`` lets another
    thread cancel the execution. Blocks the calling thread, so a service
    runs it in a worker thread.
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
        reuse=reuse,
    )
    ensure_ray()
    own_pool = pool is None
    active_pool = pool if pool is not None else InvokerPool()
    try:
        active_pool.wait_ready()
        return execute_plan(
            plan,
            mode,
            active_pool,
            listener or NullListener(),
            output=workflow.output,
            control=control,
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
    output: Any = None,
    control: ExecutionControl | None = None,
) -> ExecutionResult:
    """Run a resolved plan on a ready pool and build the execution record.

    ``output`` is the workflow's output template; without one, the output
    maps each task that nothing depends on to its output.
    """
    logger.info(
        "execution %s of workflow %s started in %s mode (%d tasks)",
        plan.execution_id,
        plan.workflow,
        mode,
        len(plan.dag),
    )
    started_at = time.time()
    run = Run(plan, pool, listener, control)
    try:
        MODES[mode](run)
    finally:
        pool.forget(plan.execution_id)
    ordered = {name: run.results[name] for name in plan.steps}
    status, error = _execution_status(run, ordered)
    result_output = None
    try:
        result_output = _workflow_output(run, output)
    except ExpressionError as exc:
        if status is ExecutionStatus.SUCCESS:
            status = ExecutionStatus.ERROR
            error = f"workflow output: {exc}"
    ended_at = time.time()
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
        input=plan.input,
        tasks=ordered,
        error=error,
        output=result_output,
    )


def _execution_status(
    run: Run, results: Mapping[str, TaskResult]
) -> tuple[ExecutionStatus, str | None]:
    """Decide the execution's status: any failed task makes it fail."""
    if run.control.cancelled:
        return ExecutionStatus.CANCELLED, run.stop_reason
    if run.timed_out:
        return ExecutionStatus.ERROR, run.stop_reason
    errors = [r for r in results.values() if r.status is TaskStatus.ERROR]
    if errors:
        first = min(errors, key=lambda r: r.ended_at or 0.0)
        error = f"task '{first.name}' failed: {first.error}"
        if len(errors) > 1:
            error += f" (and {len(errors) - 1} more failed)"
        if run.stop_reason is not None:
            error += f"; {run.stop_reason}"
        return ExecutionStatus.ERROR, error
    if any(r.status.is_failure for r in results.values()):
        return ExecutionStatus.ERROR, run.stop_reason or "a task did not run"
    return ExecutionStatus.SUCCESS, None


def _workflow_output(run: Run, template: Any) -> Any:
    """Render the workflow's output from the full results of the tasks it reads."""
    if template is None:
        leaves = run.plan.dag.leaves
        full = run.fetch_full(leaves)
        return {name: full[name].output for name in leaves if name in full}
    names = sorted({p.task for p in template_paths(template) if p.task})
    full = run.fetch_full(names)
    context = {
        "input": run.plan.input,
        "tasks": {
            name: {
                "output": result.output,
                "status": result.status.value,
                "error": result.error,
            }
            for name, result in full.items()
        },
        "execution": {"id": run.plan.execution_id, "workflow": run.plan.workflow},
    }
    return render_value(template, context)
