"""Ray Workflows runner (Ray 2.47, the last release with ``ray.workflow``).

Each task is a workflow step, a Ray task that calls the gateway with
``requests``. A final step gathers the DAG's leaves, so the workflow has one
output. Ray Workflows checkpoints every step's output to its storage folder,
as it does for its users. Steps reserve 1/16 CPU, so up to 32 run at once on
this runner's 2-CPU cluster.
"""

from __future__ import annotations

import tempfile
import uuid
from typing import Any

import common
import ray
import requests
from ray import workflow

NUM_CPUS = 2
STEP_CPUS = 1 / 16


@ray.remote  # type: ignore[misc,untyped-decorator]
def call(url: str, seconds: float, *upstream: Any) -> int:
    response = requests.post(url, json={"seconds": seconds}, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
    return response.status_code


@ray.remote  # type: ignore[misc,untyped-decorator]
def gather(*leaves: Any) -> int:
    return len(leaves)


def main() -> None:
    args = common.parse_args(__doc__ or "")
    url = common.sleep_url(args.gateway)
    storage = tempfile.mkdtemp(prefix="walle-bench-ray-workflows-")
    ray.init(
        address="local",
        num_cpus=NUM_CPUS,
        storage=storage,
        include_dashboard=False,
        log_to_driver=False,
    )
    step = call.options(num_cpus=STEP_CPUS, max_retries=0)

    def run_once(workload: common.Workload) -> None:
        nodes: dict[str, Any] = {}
        has_dependents: set[str] = set()
        for task in workload["tasks"]:
            ups = [nodes[name] for name in task["depends"]]
            has_dependents.update(task["depends"])
            nodes[task["name"]] = step.bind(url, task["seconds"], *ups)
        leaves = [node for name, node in nodes.items() if name not in has_dependents]
        dag = gather.options(num_cpus=STEP_CPUS).bind(*leaves)
        workflow.run(dag, workflow_id=f"{workload['id']}-{uuid.uuid4().hex}")

    try:
        common.run_all(
            "ray-workflows",
            f"ray {ray.__version__}",
            run_once,
            args,
            {"num_cpus": NUM_CPUS, "step_cpus": STEP_CPUS, "storage": "local folder"},
        )
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
