"""One task of one execution, from its trigger rule to its HTTP calls.

``run_step`` is what an invoker actor runs for each task. It waits for the
upstream results the trigger rule needs, evaluates ``when``, renders the
templates against the execution's input and upstream outputs, and makes the
call, once or once per ``for_each`` item. It needs no Ray, so it is tested
directly with plain awaitables.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from walle_ray.expressions import ExpressionError, parse_condition, render_value
from walle_ray.invoker.http import DEFAULT_MAX_OUTPUT_BYTES, TaskCall, invoke
from walle_ray.results import Attempt, ItemCounts, TaskResult, TaskStatus
from walle_ray.rules import DEFAULT_RULE, Decision, TriggerRule, blocked_result, decide
from walle_ray.spec import RetryPolicy

logger = logging.getLogger(__name__)

MAX_ITEMS = 100_000
"""Largest ``for_each`` list a task accepts."""


@dataclass(frozen=True, slots=True)
class TaskStep:
    """Everything an invoker needs to decide and run one task.

    ``url``, ``headers``, ``body`` and ``for_each`` may hold templates;
    ``context_tasks`` names the upstream tasks whose outputs they read.
    """

    execution_id: str
    workflow: str
    task: str
    url: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    send_body: bool = False
    timeout_s: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rule: TriggerRule = DEFAULT_RULE
    depends: tuple[str, ...] = ()
    when: str | None = None
    for_each: Any = None
    max_concurrency: int | None = None
    context_tasks: tuple[str, ...] = ()
    templated: bool = False
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES

    def call(self, url: str, headers: Mapping[str, str], body: Any) -> TaskCall:
        """Build the HTTP call of this step from rendered parts."""
        return TaskCall(
            execution_id=self.execution_id,
            task=self.task,
            url=url,
            method=self.method,
            headers=headers,
            body=body,
            send_body=self.send_body,
            timeout_s=self.timeout_s,
            retry=self.retry,
            max_output_bytes=self.max_output_bytes,
        )


Upstream = Sequence[TaskResult] | Sequence[Awaitable[TaskResult]]
Invoke = Callable[[aiohttp.ClientSession, TaskCall], Awaitable[TaskResult]]


async def run_step(
    session: aiohttp.ClientSession,
    step: TaskStep,
    input: Any,
    upstream: Upstream,
    context: Mapping[str, TaskResult | Awaitable[TaskResult]],
    *,
    call_function: Invoke = invoke,
) -> TaskResult:
    """Run one task once its trigger rule allows it.

    HTTP, template and condition failures end the task ``ERROR`` instead of
    raising; cancellation propagates. ``upstream`` contains the results of
    the direct dependencies, or awaitables of them so that the rule is
    decided as soon as it can be. ``context`` contains the results of the
    tasks that templates and ``when`` read. ``call_function`` makes each
    HTTP call; invoker actors pass one that also tracks lost attempts.
    """
    upstream_results, decision = await _await_rule(step, upstream)
    if decision is not Decision.RUN:
        return blocked_result(step.task, step.rule, decision, upstream_results)
    started_at = time.time()
    try:
        values = await _template_context(step, input, context)
        if step.when is not None and not parse_condition(step.when).evaluate(values):
            return TaskResult(
                name=step.task,
                status=TaskStatus.SKIPPED,
                ended_at=time.time(),
                error=f"not run: condition '{step.when}' is false",
            )
        if step.for_each is not None:
            return await _run_items(session, step, values, started_at, call_function)
        call = _render_call(step, values)
    except ExpressionError as exc:
        return _expression_failure(step, started_at, exc)
    logger.debug("execution %s task %s started", step.execution_id, step.task)
    result = await call_function(session, call)
    result.input = call.body if call.send_body else None
    return result


async def _await_rule(
    step: TaskStep, upstream: Upstream
) -> tuple[list[TaskResult], Decision]:
    """Wait for upstream results until the trigger rule is decided."""
    total = len(step.depends)
    ready: list[TaskResult] = []
    pending: list[asyncio.Future[TaskResult]] = []
    for item in upstream:
        if isinstance(item, TaskResult):
            ready.append(item)
        else:
            pending.append(asyncio.ensure_future(item))
    try:
        while True:
            decision = decide(step.rule, [r.status for r in ready], total)
            if decision is not None:
                return ready, decision
            done, rest = await asyncio.wait(
                pending, return_when=asyncio.FIRST_COMPLETED
            )
            ready.extend(future.result() for future in done)
            pending = list(rest)
    finally:
        # Only this task's waits are dropped; the upstream tasks keep running.
        for future in pending:
            future.cancel()


async def _template_context(
    step: TaskStep,
    input: Any,
    context: Mapping[str, TaskResult | Awaitable[TaskResult]],
) -> dict[str, Any]:
    tasks: dict[str, Any] = {}
    for name in step.context_tasks:
        item = context[name]
        result = item if isinstance(item, TaskResult) else await item
        tasks[name] = {
            "output": result.output,
            "status": result.status.value,
            "error": result.error,
        }
    return {
        "input": input,
        "tasks": tasks,
        "execution": {"id": step.execution_id, "workflow": step.workflow},
    }


def _render_call(step: TaskStep, values: Mapping[str, Any]) -> TaskCall:
    if not step.templated:
        return step.call(step.url, step.headers, step.body)
    url = render_value(step.url, values)
    headers = render_value(dict(step.headers), values)
    body = render_value(step.body, values)
    if not isinstance(url, str):
        raise ExpressionError(f"the url template rendered {url!r}, not a string")
    text_headers = {name: _header_text(value) for name, value in headers.items()}
    return step.call(url, text_headers, body)


def _header_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


async def _run_items(
    session: aiohttp.ClientSession,
    step: TaskStep,
    values: dict[str, Any],
    started_at: float,
    call_function: Invoke,
) -> TaskResult:
    """Call the task once per ``for_each`` item; the output keeps item order."""
    items = render_value(step.for_each, values)
    if not isinstance(items, list):
        raise ExpressionError(
            f"for_each must produce a list, got {type(items).__name__}: {_short(items)}"
        )
    if len(items) > MAX_ITEMS:
        raise ExpressionError(
            f"for_each produced {len(items):,} items, more than the limit of "
            f"{MAX_ITEMS:,}: split the list"
        )
    limit = step.max_concurrency or len(items) or 1
    semaphore = asyncio.Semaphore(limit)

    async def run_item(index: int, item: Any) -> TaskResult:
        async with semaphore:
            scoped = {**values, "item": item, "index": index}
            try:
                call = replace(_render_call(step, scoped), item=index)
            except ExpressionError as exc:
                return _expression_failure(step, time.time(), exc)
            result = await call_function(session, call)
            result.input = call.body if call.send_body else None
            return result

    results = await asyncio.gather(
        *(run_item(index, item) for index, item in enumerate(items))
    )
    attempts: list[Attempt] = []
    inputs = [result.input for result in results]
    outputs: list[Any] = []
    failed: list[tuple[int, TaskResult]] = []
    for index, result in enumerate(results):
        for attempt in result.attempts:
            attempt.item = index
        attempts.extend(result.attempts)
        outputs.append(result.output if result.status is TaskStatus.SUCCESS else None)
        if result.status is not TaskStatus.SUCCESS:
            failed.append((index, result))
    counts = ItemCounts(len(items), len(items) - len(failed), len(failed))
    error = None
    if failed:
        first_index, first = failed[0]
        error = (
            f"{len(failed)} of {len(items)} items failed; first, item "
            f"{first_index}: {first.error}"
        )
    return TaskResult(
        name=step.task,
        status=TaskStatus.ERROR if failed else TaskStatus.SUCCESS,
        attempts=attempts,
        started_at=started_at,
        ended_at=time.time(),
        output=outputs,
        error=error,
        items=counts,
        input=inputs,
    )


def _expression_failure(
    step: TaskStep, started_at: float, exc: ExpressionError
) -> TaskResult:
    logger.warning(
        "execution %s task %s failed to render: %s", step.execution_id, step.task, exc
    )
    return TaskResult(
        name=step.task,
        status=TaskStatus.ERROR,
        started_at=started_at,
        ended_at=time.time(),
        error=str(exc),
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
