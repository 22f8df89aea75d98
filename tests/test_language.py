"""Trigger rules, data passing, conditions, fan-out and failure policies on Ray.

Every feature runs in the three modes against the local function gateway.
"""

from __future__ import annotations

import threading
import time

import pytest
from engine_helpers import MODES, run, statuses

from walle_ray.control import ExecutionControl
from walle_ray.invoker import InvokerPool
from walle_ray.results import ExecutionStatus, TaskStatus

pytestmark = pytest.mark.usefixtures("ray_session")


MERGE_SPEC = """
name: merge
tasks:
- {name: a, function: echo, body: {}}
- {name: b, function: sleep, body: {seconds: 0.05}, depends: [a]}
- {name: c, function: sleep, body: {seconds: 1.0}, depends: [a]}
- {name: d, function: echo, body: {}, depends: [b, c], trigger_rule: one_success}
"""


def test_merge_starts_on_first_success(
    gateway_url: str, invoker_pool: InvokerPool
) -> None:
    result = run(MERGE_SPEC, "full", gateway_url, invoker_pool)
    assert result.status is ExecutionStatus.SUCCESS
    d, c = result.tasks["d"], result.tasks["c"]
    assert d.status is TaskStatus.SUCCESS
    assert len(d.attempts) == 1
    assert d.started_at is not None and c.ended_at is not None
    # d starts after b (50 ms), long before c ends (1 s).
    assert d.started_at < c.ended_at - 0.5


@pytest.mark.parametrize("mode", MODES)
def test_merge_runs_once_after_failed_branch(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: merge-after-failure
tasks:
- {name: b, function: fail, body: {status: 400}}
- {name: c, function: sleep, body: {seconds: 0.3}}
- {name: d, function: echo, body: {}, depends: [b, c], trigger_rule: one_success}
"""
    result = run(spec, mode, gateway_url, invoker_pool)
    assert statuses(result) == {"b": "ERROR", "c": "SUCCESS", "d": "SUCCESS"}
    assert len(result.tasks["d"].attempts) == 1


@pytest.mark.parametrize("mode", MODES)
def test_and_join_never_fires_early(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: and-join
tasks:
- {name: b, function: sleep, body: {seconds: 0.05}}
- {name: c, function: sleep, body: {seconds: 0.4}}
- {name: d, function: echo, body: {}, depends: [b, c]}
"""
    result = run(spec, mode, gateway_url, invoker_pool)
    d, c = result.tasks["d"], result.tasks["c"]
    assert d.status is TaskStatus.SUCCESS
    assert d.started_at is not None and c.ended_at is not None
    assert d.started_at >= c.ended_at - 0.01


def test_and_join_aborts_without_waiting(
    gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: and-join-abort
tasks:
- {name: b, function: fail, body: {status: 400}}
- {name: c, function: sleep, body: {seconds: 1.5}}
- {name: d, function: echo, body: {}, depends: [b, c]}
"""
    result = run(spec, "full", gateway_url, invoker_pool)
    d, c = result.tasks["d"], result.tasks["c"]
    assert d.status is TaskStatus.ABORT
    assert d.ended_at is not None and c.ended_at is not None
    assert d.ended_at < c.ended_at - 0.5
    assert c.status is TaskStatus.SUCCESS


@pytest.mark.parametrize("mode", MODES)
def test_merge_reads_a_join_decided_later(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    # d may run on b's success, before c has even been submitted, but its
    # body reads c's output, so it waits for c.
    spec = """
name: merge-reads-join
tasks:
- {name: x, function: sleep, body: {seconds: 0.3}}
- {name: y, function: sleep, body: {seconds: 0.3}}
- {name: c, function: echo, body: {value: from-c}, depends: [x, y]}
- {name: b, function: echo, body: {}}
- name: d
  function: echo
  body: {seen: "{{ tasks.c.output.value }}"}
  depends: [b, c]
  trigger_rule: one_success
"""
    result = run(spec, mode, gateway_url, invoker_pool)
    assert result.status is ExecutionStatus.SUCCESS, result.error
    assert result.tasks["d"].output == {"seen": "from-c"}


def test_tasks_after_an_aborted_join_run_without_waiting(
    gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: after-aborted-join
tasks:
- {name: b, function: fail, body: {status: 400}}
- {name: c, function: sleep, body: {seconds: 1.5}}
- {name: d, function: echo, body: {}, depends: [b, c]}
- {name: e, function: echo, body: {}, depends: [d], trigger_rule: all_done}
- {name: f, function: echo, body: {}, depends: [d, e], trigger_rule: all_done}
"""
    result = run(spec, "full", gateway_url, invoker_pool)
    assert statuses(result) == {
        "b": "ERROR",
        "c": "SUCCESS",
        "d": "ABORT",
        "e": "SUCCESS",
        "f": "SUCCESS",
    }
    c, e, f = result.tasks["c"], result.tasks["e"], result.tasks["f"]
    assert c.ended_at is not None and e.started_at is not None
    assert f.ended_at is not None
    # d is decided on b's failure, so e and f need not wait for c.
    assert f.ended_at < c.ended_at - 0.5
    assert e.started_at < c.ended_at - 0.5


@pytest.mark.parametrize("mode", MODES)
def test_join_after_skipped_branch(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: branch-join
tasks:
- {name: a, function: echo, body: {kind: small}}
- name: big
  function: echo
  body: {}
  depends: [a]
  when: "tasks.a.output.kind == 'big'"
- name: small
  function: echo
  body: {}
  depends: [a]
  when: "tasks.a.output.kind == 'small'"
- name: join
  function: echo
  body: {}
  depends: [big, small]
  trigger_rule: none_failed_min_one_success
- {name: strict, function: echo, body: {}, depends: [big, small]}
"""
    result = run(spec, mode, gateway_url, invoker_pool)
    assert statuses(result) == {
        "a": "SUCCESS",
        "big": "SKIPPED",
        "small": "SUCCESS",
        "join": "SUCCESS",
        "strict": "SKIPPED",
    }
    assert result.status is ExecutionStatus.SUCCESS
    big_error = result.tasks["big"].error
    assert big_error is not None and "is false" in big_error


@pytest.mark.parametrize("mode", MODES)
def test_cleanup_rules(mode: str, gateway_url: str, invoker_pool: InvokerPool) -> None:
    spec = """
name: cleanup
tasks:
- {name: work, function: fail, body: {status: 400}}
- name: compensate
  function: echo
  body: {}
  depends: [work]
  trigger_rule: all_failed
- {name: always, function: echo, body: {}, depends: [work], trigger_rule: all_done}
- {name: on-success, function: echo, body: {}, depends: [work]}
- {name: guarded, function: echo, body: {}, depends: [work], trigger_rule: none_failed}
"""
    result = run(spec, mode, gateway_url, invoker_pool)
    assert statuses(result) == {
        "work": "ERROR",
        "compensate": "SUCCESS",
        "always": "SUCCESS",
        "on-success": "ABORT",
        "guarded": "ABORT",
    }
    assert result.status is ExecutionStatus.ERROR


@pytest.mark.parametrize("mode", MODES)
def test_templates_pass_data(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: data
tasks:
- name: first
  function: echo
  body: {items: [{price: 12.5}, {price: 3}], id: "{{ input.order.id }}"}
- name: second
  url: "{{ input.gateway }}/function/echo?id={{ input.order.id }}"
  headers: {X-Order: "{{ input.order.id }}"}
  body:
    price: "{{ tasks.first.output.items[0].price }}"
    label: >-
      order {{ tasks.first.output.id }}
      costs {{ tasks.first.output.items[1].price }}
    everything: "{{ tasks.first.output }}"
  depends: [first]
- name: third
  function: echo
  body: {again: "{{ tasks.first.output.id }}", via: "{{ tasks.second.output.price }}"}
  depends: [second]
output:
  price: "{{ tasks.second.output.price }}"
  id: "{{ input.order.id }}"
"""
    order = {"order": {"id": 42}, "gateway": gateway_url}
    result = run(spec, mode, gateway_url, invoker_pool, input=order)
    assert result.status is ExecutionStatus.SUCCESS, result.error
    second = result.tasks["second"].output
    assert second["price"] == 12.5
    assert second["label"] == "order 42 costs 3"
    assert second["everything"]["items"][1] == {"price": 3}
    assert result.tasks["third"].output == {"again": 42, "via": 12.5}
    assert result.tasks["third"].input == {"again": 42, "via": 12.5}
    assert result.output == {"price": 12.5, "id": 42}


@pytest.mark.parametrize("mode", MODES)
def test_missing_path_fails_task(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: missing-path
tasks:
- {name: first, function: echo, body: {items: []}}
- name: second
  function: echo
  body: {price: "{{ tasks.first.output.items[0].price }}"}
  depends: [first]
- {name: third, function: echo, body: {}, depends: [second]}
"""
    result = run(spec, mode, gateway_url, invoker_pool)
    assert statuses(result) == {"first": "SUCCESS", "second": "ERROR", "third": "ABORT"}
    error = result.tasks["second"].error
    assert error is not None and "tasks.first.output.items[0]" in error


def test_default_output_is_leaves(gateway_url: str, invoker_pool: InvokerPool) -> None:
    spec = """
name: leaves
tasks:
- {name: a, function: echo, body: {n: 1}}
- {name: b, function: echo, body: {n: 2}, depends: [a]}
- {name: c, function: echo, body: {n: 3}, depends: [a]}
"""
    result = run(spec, "full", gateway_url, invoker_pool)
    assert result.output == {"b": {"n": 2}, "c": {"n": 3}}


@pytest.mark.parametrize("mode", MODES)
def test_for_each_keeps_item_order(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: fan-out
tasks:
- {name: list, function: echo, body: {values: [3, 1, 2]}}
- name: each
  function: sleep
  for_each: "{{ tasks.list.output.values }}"
  max_concurrency: 2
  body: {seconds: 0.01, value: "{{ item }}", index: "{{ index }}"}
  depends: [list]
- name: total
  function: echo
  body: {results: "{{ tasks.each.output }}"}
  depends: [each]
"""
    result = run(spec, mode, gateway_url, invoker_pool)
    assert result.status is ExecutionStatus.SUCCESS, result.error
    each = result.tasks["each"]
    assert [o["value"] for o in each.output] == [3, 1, 2]
    assert [o["index"] for o in each.output] == [0, 1, 2]
    assert each.items is not None
    assert (each.items.total, each.items.succeeded, each.items.failed) == (3, 3, 0)
    assert sorted(a.item for a in each.attempts) == [0, 1, 2]
    assert [body["value"] for body in each.input] == [3, 1, 2]


@pytest.mark.parametrize("mode", MODES)
def test_for_each_counts_failures(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: fan-out-failures
tasks:
- name: each
  function: fail
  for_each: [400, 500, 200]
  body: {status: "{{ item }}"}
"""
    result = run(spec, mode, gateway_url, invoker_pool)
    each = result.tasks["each"]
    assert each.status is TaskStatus.ERROR
    assert each.items is not None
    # fail returns 400 and 500 as requested and rejects 200 with a 400.
    assert (each.items.total, each.items.failed) == (3, 3)
    assert each.error is not None and "3 of 3 items failed" in each.error


def test_for_each_ten_thousand_items(
    gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: wide
tasks:
- {name: seed, function: echo, body: {n: 10000}}
- name: each
  function: echo
  for_each: "{{ input.items }}"
  max_concurrency: 500
  body: {i: "{{ item }}"}
  depends: [seed]
"""
    items = list(range(10_000))
    result = run(spec, "full", gateway_url, invoker_pool, input={"items": items})
    each = result.tasks["each"]
    assert each.status is TaskStatus.SUCCESS, each.error
    assert each.items is not None and each.items.succeeded == 10_000
    # The summary output is capped; the full list reached the workflow output.
    assert result.output["each"][9_999] == {"i": 9_999}
    assert isinstance(each.output, dict) and each.output["truncated"] is True


@pytest.mark.parametrize("mode", MODES)
def test_fail_fast_cancels_running(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: fail-fast
on_failure: fail_fast
tasks:
- {name: bad, function: fail, body: {status: 400}}
- {name: slow, function: sleep, body: {seconds: 5}}
- {name: after-slow, function: echo, body: {}, depends: [slow]}
"""
    started = time.monotonic()
    result = run(spec, mode, gateway_url, invoker_pool)
    elapsed = time.monotonic() - started
    assert result.status is ExecutionStatus.ERROR
    assert result.tasks["bad"].status is TaskStatus.ERROR
    assert result.tasks["after-slow"].status is TaskStatus.ABORT
    if mode == "sync":
        # bad runs first in declaration order, so slow never starts.
        assert result.tasks["slow"].status is TaskStatus.ABORT
    else:
        assert result.tasks["slow"].status is TaskStatus.CANCELLED
    assert elapsed < 4.0


@pytest.mark.parametrize("mode", MODES)
def test_workflow_timeout(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: workflow-timeout
timeout: 500ms
tasks:
- {name: slow, function: sleep, body: {seconds: 5}}
- {name: after, function: echo, body: {}, depends: [slow]}
"""
    started = time.monotonic()
    result = run(spec, mode, gateway_url, invoker_pool)
    assert time.monotonic() - started < 4.0
    assert result.status is ExecutionStatus.ERROR
    assert result.error is not None and "timed out after 0.5s" in result.error
    assert statuses(result) == {"slow": "CANCELLED", "after": "ABORT"}


@pytest.mark.parametrize("mode", MODES)
def test_cancel_from_another_thread(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: cancel
tasks:
- {name: slow, function: sleep, body: {seconds: 5}}
- {name: after, function: echo, body: {}, depends: [slow]}
"""
    control = ExecutionControl()
    timer = threading.Timer(0.5, control.cancel)
    timer.start()
    started = time.monotonic()
    result = run(spec, mode, gateway_url, invoker_pool, control=control)
    timer.join()
    assert time.monotonic() - started < 4.0
    assert result.status is ExecutionStatus.CANCELLED
    assert statuses(result) == {"slow": "CANCELLED", "after": "CANCELLED"}


@pytest.mark.parametrize("mode", MODES)
def test_reuse_skips_succeeded_tasks(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: reuse
tasks:
- {name: a, function: echo, body: {value: fresh}}
- {name: b, function: echo, body: {from-a: "{{ tasks.a.output.value }}"}, depends: [a]}
"""
    first = run(spec, mode, gateway_url, invoker_pool)
    earlier = first.tasks["a"]
    earlier.output = {"value": "reused"}
    second = run(spec, mode, gateway_url, invoker_pool, reuse={"a": earlier})
    assert second.tasks["a"] is earlier or second.tasks["a"].output == {
        "value": "reused"
    }
    assert second.tasks["b"].output == {"from-a": "reused"}


@pytest.mark.parametrize("mode", MODES)
def test_timeout_retried_only_when_listed(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: retry-policy
tasks:
- name: not-on-timeout
  function: sleep
  body: {seconds: 2}
  timeout: 100ms
  retry: {max: 2, initial: 10ms, on: [503]}
- name: on-timeout
  function: sleep
  body: {seconds: 2}
  timeout: 100ms
  retry: {max: 2, initial: 10ms, on: [timeout]}
"""
    result = run(spec, mode, gateway_url, invoker_pool)
    assert len(result.tasks["not-on-timeout"].attempts) == 1
    assert len(result.tasks["on-timeout"].attempts) == 3


@pytest.mark.parametrize("mode", MODES)
def test_task_after_blocked_task_runs(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    spec = """
name: after-blocked
tasks:
- {name: a, function: echo, body: {}}
- {name: never, function: echo, body: {}, depends: [a], trigger_rule: all_failed}
- name: merge
  function: echo
  body: {}
  depends: [a, never]
  trigger_rule: one_success
"""
    result = run(spec, mode, gateway_url, invoker_pool)
    assert statuses(result) == {"a": "SUCCESS", "never": "SKIPPED", "merge": "SUCCESS"}
