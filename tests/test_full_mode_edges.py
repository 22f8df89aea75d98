"""Stopped runs and dependents of failed calls, mostly in full mode."""

from __future__ import annotations

import pytest
from engine_helpers import MODES, run

from walle_ray.invoker import InvokerPool
from walle_ray.results import ExecutionStatus, TaskResult, TaskStatus

pytestmark = pytest.mark.usefixtures("ray_session")

# 'merge' may run once 'fast' succeeds, but its body reads 'join', which the
# driver submits only after 'slow' ends. The workflow times out before that.
HELD_BY_TEMPLATE_SPEC = """
name: held-by-template
timeout: 1s
tasks:
- {name: slow, function: sleep, body: {seconds: 3}}
- {name: fast, function: echo, body: {v: 1}}
- {name: join, function: echo, body: {v: 2}, depends: [slow, fast]}
- name: merge
  function: echo
  body: {joined: "{{ tasks.join.output }}"}
  depends: [fast, join]
  trigger_rule: one_success
"""

# 'source' sends the execution input, which JSON cannot encode, so its invoker
# call raises. Both dependents' rules let them run after a failed dependency.
FAILED_CALL_SPEC = """
name: failed-call
tasks:
- {name: source, function: echo}
- name: cleanup
  function: echo
  body: {x: 1}
  depends: [source]
  trigger_rule: all_done
- name: alert
  function: echo
  body: {x: 1}
  depends: [source]
  trigger_rule: one_failed
"""

# Under fail_fast the run stops when 'bad' fails, before either dependent of
# 'bad' has started.
FAIL_FAST_SPEC = """
name: fail-fast-dependents
on_failure: fail_fast
tasks:
- {name: other, function: echo, body: {v: 1}}
- {name: bad, function: fail, body: {status: 400}, depends: [other]}
- {name: alert, function: echo, depends: [bad], trigger_rule: one_failed}
- {name: cleanup, function: echo, depends: [bad, other], trigger_rule: all_done}
"""


def test_timeout_aborts_task_held_for_template(
    gateway_url: str, invoker_pool: InvokerPool
) -> None:
    result = run(HELD_BY_TEMPLATE_SPEC, "full", gateway_url, invoker_pool)
    assert result.status is ExecutionStatus.ERROR
    merge = result.tasks["merge"]
    # 'merge' was never submitted, so it had not started when the run stopped.
    assert merge.status is TaskStatus.ABORT, merge
    assert merge.started_at is None, merge


@pytest.mark.parametrize("mode", MODES)
def test_failed_invoker_call_lets_dependents_run(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    result = run(
        FAILED_CALL_SPEC, mode, gateway_url, invoker_pool, input={"ids": {1, 2}}
    )
    assert result.tasks["source"].status is TaskStatus.ERROR
    cleanup = result.tasks["cleanup"]
    alert = result.tasks["alert"]
    assert cleanup.status is TaskStatus.SUCCESS, cleanup.error
    assert alert.status is TaskStatus.SUCCESS, alert.error


def test_fail_fast_aborts_dependents_of_failure(
    gateway_url: str, invoker_pool: InvokerPool
) -> None:
    result = run(FAIL_FAST_SPEC, "full", gateway_url, invoker_pool)
    assert result.status is ExecutionStatus.ERROR
    assert result.tasks["bad"].status is TaskStatus.ERROR
    for name in ("alert", "cleanup"):
        task = result.tasks[name]
        assert task.status is TaskStatus.ABORT, task
        assert task.started_at is None, task


# 'reader' depends only on 'fast', whose earlier result is reused, but its
# body reads 'join', which waits for 'slow'. The workflow times out first.
HELD_AFTER_REUSE_SPEC = """
name: held-after-reuse
timeout: 1s
tasks:
- {name: slow, function: sleep, body: {seconds: 3}}
- {name: fast, function: echo, body: {v: 1}}
- {name: join, function: echo, body: {v: 2}, depends: [slow, fast]}
- name: reader
  function: echo
  body: {joined: "{{ tasks.join.output }}"}
  depends: [fast, join]
  trigger_rule: one_success
- {name: after, function: echo, body: {v: 3}, depends: [fast]}
"""


def test_timeout_aborts_held_task_after_reuse(
    gateway_url: str, invoker_pool: InvokerPool
) -> None:
    reused = TaskResult(
        name="fast", status=TaskStatus.SUCCESS, started_at=1.0, ended_at=2.0
    )
    result = run(
        HELD_AFTER_REUSE_SPEC,
        "full",
        gateway_url,
        invoker_pool,
        reuse={"fast": reused},
    )
    assert result.status is ExecutionStatus.ERROR
    reader = result.tasks["reader"]
    assert reader.status is TaskStatus.ABORT, reader
    assert reader.started_at is None, reader
    assert result.tasks["after"].status is TaskStatus.SUCCESS
