"""A call lost with a dead invoker actor shows in the task's record."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import ray

from walle_ray.engine import run_workflow
from walle_ray.invoker import InvokerPool
from walle_ray.invoker.actor import FORGET_BATCH
from walle_ray.invoker.ledger import LOST_ATTEMPT_ERROR
from walle_ray.results import ExecutionStatus
from walle_ray.spec import load_workflow

pytestmark = pytest.mark.usefixtures("ray_session")

SPEC = """
name: restart
tasks:
- {name: slow, function: sleep, body: {seconds: 1.5}}
- name: after
  function: echo
  body: {from: "{{ tasks.slow.output.seconds }}"}
  depends: [slow]
"""


@pytest.fixture
def single_pool() -> Iterator[InvokerPool]:
    pool = InvokerPool(1, name_prefix="walle-restart-test")
    pool.wait_ready()
    yield pool
    pool.shutdown()


@pytest.mark.parametrize("mode", ["full"])
def test_killed_invoker_attempt_recorded(
    mode: str, gateway_url: str, single_pool: InvokerPool
) -> None:
    actor = single_pool.actors[0]
    killer = threading.Timer(0.6, lambda: ray.kill(actor, no_restart=False))
    killer.start()
    result = run_workflow(
        load_workflow(SPEC), mode=mode, gateway=gateway_url, pool=single_pool
    )
    killer.join()
    assert result.status is ExecutionStatus.SUCCESS, result.error
    slow = result.tasks["slow"]
    assert [a.number for a in slow.attempts] == [1, 2]
    assert slow.attempts[0].error == LOST_ATTEMPT_ERROR
    assert slow.attempts[0].status_code is None
    assert slow.attempts[1].status_code == 200
    assert result.tasks["after"].output == {"from": 1.5}
    assert len(result.tasks["after"].attempts) == 1


def test_ledger_forgets_ended_executions_in_batches(
    single_pool: InvokerPool,
) -> None:
    ledger = single_pool.ledger
    ids = [f"ended-{i}" for i in range(FORGET_BATCH)]
    ray.get(ledger.record.remote([(i, "task", 1.0) for i in [*ids, "running"]]))
    for execution_id in ids[:-1]:
        single_pool.forget(execution_id)
    # Below the batch size and within the interval, nothing is sent yet.
    assert ray.get(ledger.started.remote(ids[0], "task")) == [1.0]
    single_pool.forget(ids[-1])
    for execution_id in ids:
        assert ray.get(ledger.started.remote(execution_id, "task")) == []
    assert ray.get(ledger.started.remote("running", "task")) == [1.0]
