"""Prefect 3 runner: one flow run per execution, one task run per task.

Prefect runs as a user gets it without a server: an ephemeral API server
backed by the default local SQLite database records every flow and task
run. Tasks are submitted to a ``ThreadPoolTaskRunner`` of 64 threads with
their upstream futures in ``wait_for``.
"""

from __future__ import annotations

from typing import Any

import common
import prefect
from prefect import flow, task
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

MAX_WORKERS = 64


@task  # type: ignore[misc,untyped-decorator]
def call(url: str, seconds: float) -> int:
    return int(common.post_sleep(url, seconds))


@flow(task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS))  # type: ignore[misc,untyped-decorator]
def run_dag(url: str, tasks: list[dict[str, Any]]) -> None:
    futures: dict[str, Any] = {}
    for spec in tasks:
        futures[spec["name"]] = call.with_options(name=spec["name"]).submit(
            url,
            spec["seconds"],
            wait_for=[futures[name] for name in spec["depends"]],
        )
    done = wait(list(futures.values()))
    for future in done.done:
        future.result()
    if done.not_done:
        raise RuntimeError(f"{len(done.not_done)} task runs did not finish")


def main() -> None:
    args = common.parse_args(__doc__ or "")
    url = common.sleep_url(args.gateway)

    def run_once(workload: common.Workload) -> None:
        run_dag(url, workload["tasks"])

    common.run_all(
        "prefect",
        f"prefect {prefect.__version__}",
        run_once,
        args,
        {"task_runner": f"ThreadPoolTaskRunner(max_workers={MAX_WORKERS})"},
    )


if __name__ == "__main__":
    main()
