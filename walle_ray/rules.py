"""Trigger rules: whether a task runs, given how its upstream tasks ended.

Every execution mode and the invoker actors decide through ``decide``, so a
task ends the same way whichever process decides it. A decision is made as
soon as it can no longer change: a merge (``one_success``) runs on the first
upstream success, and an AND-join (``all_success``) is aborted on the first
upstream failure, without waiting for the other upstream tasks.

Upstream outcomes fall into three groups: succeeded (``SUCCESS``), failed
(``ERROR``, ``ABORT`` or ``CANCELLED``) and skipped (``SKIPPED``). When a rule
can no longer be met, the task ends ``ABORT`` if an upstream task failed and
``SKIPPED`` otherwise.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence

from walle_ray.results import TaskResult, TaskStatus


class TriggerRule(enum.StrEnum):
    """When a task runs, as a condition over its upstream tasks' outcomes."""

    ALL_SUCCESS = "all_success"
    ONE_SUCCESS = "one_success"
    ALL_DONE = "all_done"
    NONE_FAILED = "none_failed"
    ALL_FAILED = "all_failed"
    ONE_FAILED = "one_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"


DEFAULT_RULE = TriggerRule.ALL_SUCCESS

RULE_HELP: dict[TriggerRule, str] = {
    TriggerRule.ALL_SUCCESS: "every upstream task succeeded",
    TriggerRule.ONE_SUCCESS: "at least one upstream task succeeded",
    TriggerRule.ALL_DONE: "every upstream task ended, whatever its status",
    TriggerRule.NONE_FAILED: "no upstream task failed (skipped ones are fine)",
    TriggerRule.ALL_FAILED: "every upstream task failed",
    TriggerRule.ONE_FAILED: "at least one upstream task failed",
    TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS: (
        "no upstream task failed and at least one succeeded"
    ),
}


class Decision(enum.Enum):
    """The outcome of a decided trigger rule: run, skip or abort the task."""

    RUN = "run"
    SKIP = "skip"
    ABORT = "abort"


def decide(
    rule: TriggerRule, ended: Sequence[TaskStatus], total: int
) -> Decision | None:
    """Decide a task's fate from the statuses of the upstream tasks that ended.

    ``total`` is the number of upstream tasks, and ``ended`` contains the
    statuses of those that have ended so far. Returns None while the outcome can still
    change. A task without upstream tasks always runs.
    """
    if total == 0:
        return Decision.RUN
    succeeded = sum(status is TaskStatus.SUCCESS for status in ended)
    failed = sum(status.is_failure for status in ended)
    return decide_counts(
        rule, succeeded, failed, len(ended) - succeeded - failed, total
    )


def decide_counts(
    rule: TriggerRule, succeeded: int, failed: int, skipped: int, total: int
) -> Decision | None:
    """Decide like ``decide``, from counts of upstream outcomes so far."""
    if total == 0:
        return Decision.RUN
    complete = succeeded + failed + skipped >= total
    blocked = Decision.ABORT if failed else Decision.SKIP

    if rule is TriggerRule.ALL_SUCCESS:
        if failed or skipped:
            return blocked
        return Decision.RUN if complete else None
    if rule is TriggerRule.ONE_SUCCESS:
        if succeeded:
            return Decision.RUN
        return blocked if complete else None
    if rule is TriggerRule.ALL_DONE:
        return Decision.RUN if complete else None
    if rule is TriggerRule.NONE_FAILED:
        if failed:
            return Decision.ABORT
        return Decision.RUN if complete else None
    if rule is TriggerRule.ALL_FAILED:
        if succeeded or skipped:
            return Decision.SKIP
        return Decision.RUN if complete else None
    if rule is TriggerRule.ONE_FAILED:
        if failed:
            return Decision.RUN
        return Decision.SKIP if complete else None
    if rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
        if failed:
            return Decision.ABORT
        if not complete:
            return None
        return Decision.RUN if succeeded else Decision.SKIP
    raise AssertionError(f"unhandled trigger rule {rule!r}")


def blocked_result(
    name: str, rule: TriggerRule, decision: Decision, upstream: Sequence[TaskResult]
) -> TaskResult:
    """Build the ``ABORT`` or ``SKIPPED`` result of a task whose rule failed.

    The message names the upstream tasks that decided it.
    """
    if decision is Decision.ABORT:
        culprits = [r for r in upstream if r.status.is_failure]
        status = TaskStatus.ABORT
    else:
        culprits = [r for r in upstream if r.status is not TaskStatus.SUCCESS]
        if rule in (TriggerRule.ALL_FAILED, TriggerRule.ONE_FAILED) or not culprits:
            culprits = list(upstream)
        status = TaskStatus.SKIPPED
    described = ", ".join(f"'{r.name}' ended {r.status.value}" for r in culprits[:3])
    if len(culprits) > 3:
        described += f" and {len(culprits) - 3} more"
    return TaskResult(
        name=name,
        status=status,
        ended_at=time.time(),
        error=f"not run: trigger rule {rule.value} ({RULE_HELP[rule]}) "
        f"cannot be met: upstream {described}",
    )


def abort_result(name: str, upstream: Sequence[TaskResult]) -> TaskResult | None:
    """Return an ``ABORT`` or ``SKIPPED`` result unless all upstream succeeded.

    The ``all_success`` rule applied to a complete list of upstream results.
    """
    statuses = [result.status for result in upstream]
    decision = decide(DEFAULT_RULE, statuses, len(statuses))
    if decision is Decision.RUN:
        return None
    assert decision is not None
    return blocked_result(name, DEFAULT_RULE, decision, upstream)
