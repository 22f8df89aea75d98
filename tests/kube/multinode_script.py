"""Run a workflow on a local three-node Ray cluster and lose a node midway.

Started as a subprocess by test_multinode.py, so the test session's own Ray
instance is untouched. Prints one JSON object on its last line with what the
test checks: where the invoker actors ran, the execution record, and how
many calls the gateway received.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.request
from typing import Any

import ray
from ray.cluster_utils import Cluster
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from walle_ray.engine import run_workflow
from walle_ray.gateway import LocalGateway
from walle_ray.kube.spread import SpreadInvokerPool
from walle_ray.results import ExecutionResult
from walle_ray.spec import load_workflow

PARALLEL_TASKS = 6
SLEEP_S = 6.0
POOL_SIZE = 3
EXECUTION_ID = "spread-across-nodes-1"

# Fast node-failure detection: the GCS marks a silent raylet dead after
# about three one-second health checks instead of the default half minute.
SYSTEM_CONFIG = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 1000,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
}


def workflow_spec() -> str:
    lines = ["name: spread-across-nodes", "tasks:"]
    names = []
    for index in range(PARALLEL_TASKS):
        name = f"sleep-{index}"
        names.append(name)
        lines.append(
            f"- {{name: {name}, function: sleep, "
            f"body: {{seconds: {SLEEP_S}, task: {name}}}}}"
        )
    lines.append(
        f"- {{name: join, function: sleep, body: {{seconds: 0.1}}, "
        f"depends: [{', '.join(names)}]}}"
    )
    return "\n".join(lines) + "\n"


def invocation_count(gateway_url: str, function: str) -> int:
    with urllib.request.urlopen(
        f"{gateway_url}/system/function/{function}", timeout=10
    ) as response:
        count: int = json.load(response)["invocationCount"]
    return count


def main() -> int:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "_system_config": SYSTEM_CONFIG,
        },
    )
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(
        address=cluster.address,
        logging_level=logging.WARNING,
        log_to_driver=False,
        configure_logging=False,
    )
    report: dict[str, Any] = {
        "head_node": cluster.head_node.node_id,
        "worker_nodes": [node.node_id for node in workers],
    }
    wait_until_schedulable([report["head_node"], *report["worker_nodes"]])
    try:
        with LocalGateway([]) as gateway:
            report.update(run_with_node_loss(cluster, workers, gateway.url))
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(json.dumps(report))
    return 0


@ray.remote(num_cpus=0)
def node_id() -> str:
    node: str = ray.get_runtime_context().get_node_id()
    return node


def wait_until_schedulable(nodes: list[str]) -> None:
    """Run a task on each node with a hard affinity, so every raylet is known.

    A node can be registered in the GCS before the driver's raylet has heard
    of it, and a soft affinity to such a node falls back to another node.
    """
    refs = [
        node_id.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
        ).remote()
        for node in nodes
    ]
    ray.get(refs, timeout=120)


def run_with_node_loss(
    cluster: Cluster, workers: list[Any], gateway_url: str
) -> dict[str, Any]:
    pool = SpreadInvokerPool(POOL_SIZE, name_prefix="walle-spread")
    actor_pids = pool.wait_ready()
    nodes_before = pool.actor_nodes()
    report: dict[str, Any] = {
        "actor_nodes_before": nodes_before,
        "actor_targets": pool.targets,
    }

    holder: dict[str, ExecutionResult | BaseException] = {}

    def execute() -> None:
        try:
            holder["result"] = run_workflow(
                load_workflow(workflow_spec()),
                mode="full",
                gateway=gateway_url,
                pool=pool,
                execution_id=EXECUTION_ID,
            )
        except BaseException as exc:  # reported to the test as text
            holder["result"] = exc

    runner = threading.Thread(target=execute)
    runner.start()

    # Wait until every parallel task has reached the gateway, then remove a
    # worker node that hosts at least one invoker actor.
    deadline = time.monotonic() + 60
    while invocation_count(gateway_url, "sleep") < PARALLEL_TASKS:
        if time.monotonic() > deadline:
            raise TimeoutError("the parallel tasks never all started")
        time.sleep(0.1)
    # Invokers report the calls they start to the ledger in batches. A start
    # still unreported when its node goes away is missing from the record, so
    # wait until the ledger has every start.
    while not all(
        ray.get(pool.ledger.started.remote(EXECUTION_ID, f"sleep-{index}"))
        for index in range(PARALLEL_TASKS)
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("the ledger never recorded every start")
        time.sleep(0.02)
    calls_at_removal = invocation_count(gateway_url, "sleep")
    victim = next(n for n in workers if n.node_id in nodes_before)
    cluster.remove_node(victim, allow_graceful=False)
    # On a real machine the node's processes go with it. Here they share one
    # machine, and an actor process that outlives its raylet for the rest of
    # its calls would return their results, so end it with the node.
    for pid, node in zip(actor_pids, nodes_before, strict=True):
        if node == victim.node_id:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    report["removed_node"] = victim.node_id
    report["calls_at_removal"] = calls_at_removal

    runner.join(timeout=240)
    outcome = holder.get("result")
    if isinstance(outcome, ExecutionResult):
        report["result"] = outcome.to_dict(include_attempts=True)
    else:
        report["error"] = repr(outcome) if outcome else "execution did not end"
    report["sleep_calls"] = invocation_count(gateway_url, "sleep")
    report["actor_nodes_after"] = pool.actor_nodes()
    report["alive_nodes"] = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    pool.shutdown()
    return report


if __name__ == "__main__":
    sys.exit(main())
