"""Trigger rules against every combination of upstream outcomes, without Ray."""

from __future__ import annotations

import itertools

import pytest

from walle_ray.results import TaskResult, TaskStatus
from walle_ray.rules import (
    Decision,
    TriggerRule,
    abort_result,
    blocked_result,
    decide,
)

S, E, A, K, C = (
    TaskStatus.SUCCESS,
    TaskStatus.ERROR,
    TaskStatus.ABORT,
    TaskStatus.SKIPPED,
    TaskStatus.CANCELLED,
)
OUTCOMES = (S, E, A, K)
RUN, SKIP, ABORT = Decision.RUN, Decision.SKIP, Decision.ABORT

# One upstream task: the rule's decision for each outcome, written out.
SINGLE_UPSTREAM: dict[TriggerRule, dict[TaskStatus, Decision]] = {
    TriggerRule.ALL_SUCCESS: {S: RUN, E: ABORT, A: ABORT, K: SKIP},
    TriggerRule.ONE_SUCCESS: {S: RUN, E: ABORT, A: ABORT, K: SKIP},
    TriggerRule.ALL_DONE: {S: RUN, E: RUN, A: RUN, K: RUN},
    TriggerRule.NONE_FAILED: {S: RUN, E: ABORT, A: ABORT, K: RUN},
    TriggerRule.ALL_FAILED: {S: SKIP, E: RUN, A: RUN, K: SKIP},
    TriggerRule.ONE_FAILED: {S: SKIP, E: RUN, A: RUN, K: SKIP},
    TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS: {S: RUN, E: ABORT, A: ABORT, K: SKIP},
}


def expected(rule: TriggerRule, outcomes: tuple[TaskStatus, ...]) -> Decision:
    """The rule's final decision, stated as the docs state it."""
    failed = [o in (E, A, C) for o in outcomes]
    succeeded = [o is S for o in outcomes]
    blocked = ABORT if any(failed) else SKIP
    if rule is TriggerRule.ALL_SUCCESS:
        return RUN if all(succeeded) else blocked
    if rule is TriggerRule.ONE_SUCCESS:
        return RUN if any(succeeded) else blocked
    if rule is TriggerRule.ALL_DONE:
        return RUN
    if rule is TriggerRule.NONE_FAILED:
        return ABORT if any(failed) else RUN
    if rule is TriggerRule.ALL_FAILED:
        return RUN if all(failed) else SKIP
    if rule is TriggerRule.ONE_FAILED:
        return RUN if any(failed) else SKIP
    if any(failed):
        return ABORT
    return RUN if any(succeeded) else SKIP


@pytest.mark.parametrize("rule", list(TriggerRule))
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_single_upstream_table(rule: TriggerRule, outcome: TaskStatus) -> None:
    assert decide(rule, [outcome], 1) is SINGLE_UPSTREAM[rule][outcome]


@pytest.mark.parametrize("rule", list(TriggerRule))
@pytest.mark.parametrize("count", [2, 3])
def test_full_matrix_of_outcomes(rule: TriggerRule, count: int) -> None:
    for outcomes in itertools.product(OUTCOMES, repeat=count):
        assert decide(rule, list(outcomes), count) is expected(rule, outcomes), (
            rule,
            outcomes,
        )


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_early_decisions_never_change(rule: TriggerRule) -> None:
    """An early decision runs the task exactly when the final one would.

    The one allowed difference: a task blocked by a skipped upstream before
    any upstream failed ends SKIPPED where waiting would have given ABORT.
    """
    for outcomes in itertools.product(OUTCOMES, repeat=3):
        final = expected(rule, outcomes)
        for order in itertools.permutations(outcomes):
            for seen in range(len(order)):
                early = decide(rule, list(order[:seen]), 3)
                if early is None or early is final:
                    continue
                assert (early, final) == (SKIP, ABORT), (rule, order, seen)
                assert K in order[:seen], (rule, order, seen)


def test_merge_runs_on_first_success() -> None:
    assert decide(TriggerRule.ONE_SUCCESS, [S], 2) is RUN


def test_or_join_waits_after_a_failure() -> None:
    """An OR-join is not given up while another upstream task can succeed."""
    assert decide(TriggerRule.ONE_SUCCESS, [E], 2) is None
    assert decide(TriggerRule.ONE_SUCCESS, [K], 2) is None


def test_and_join_does_not_fire_early() -> None:
    assert decide(TriggerRule.ALL_SUCCESS, [S], 2) is None
    assert decide(TriggerRule.ALL_SUCCESS, [S, S], 3) is None


def test_and_join_aborts_on_first_failure() -> None:
    assert decide(TriggerRule.ALL_SUCCESS, [E], 3) is ABORT


def test_join_after_skipped_branch_fires() -> None:
    rule = TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    assert decide(rule, [K, S], 2) is RUN
    assert decide(TriggerRule.NONE_FAILED, [K, S], 2) is RUN


def test_cancelled_upstream_counts_as_failed() -> None:
    assert decide(TriggerRule.ALL_SUCCESS, [C], 1) is ABORT
    assert decide(TriggerRule.ALL_FAILED, [C], 1) is RUN


def test_task_without_upstream_runs() -> None:
    for rule in TriggerRule:
        assert decide(rule, [], 0) is RUN


def test_blocked_result_names_upstream() -> None:
    upstream = [
        TaskResult(name="b", status=S),
        TaskResult(name="c", status=E),
    ]
    result = blocked_result("d", TriggerRule.ALL_SUCCESS, ABORT, upstream)
    assert result.status is TaskStatus.ABORT
    assert result.error is not None
    assert "'c' ended ERROR" in result.error
    assert "all_success" in result.error
    assert result.started_at is None


def test_blocked_result_for_skip() -> None:
    upstream = [TaskResult(name="b", status=K)]
    result = blocked_result("d", TriggerRule.ALL_SUCCESS, SKIP, upstream)
    assert result.status is TaskStatus.SKIPPED
    assert result.error is not None
    assert "'b' ended SKIPPED" in result.error


def test_abort_result_applies_all_success() -> None:
    ok = [TaskResult(name="a", status=S)]
    assert abort_result("t", ok) is None
    failed = abort_result("t", [TaskResult(name="a", status=E)])
    assert failed is not None
    assert failed.status is TaskStatus.ABORT
