"""Dask distributed runner: each task is a Dask task that calls the gateway.

A ``LocalCluster`` of 2 worker processes with 32 threads each runs the
calls with ``requests``. Dependencies are passed as futures, so the
scheduler starts a task once its upstream tasks have finished.
"""

from __future__ import annotations

from typing import Any

import common
import dask
import distributed
from distributed import Client, LocalCluster

WORKERS = 2
THREADS_PER_WORKER = 32


def call(url: str, seconds: float, *upstream: Any) -> int:
    return int(common.post_sleep(url, seconds))


def main() -> None:
    args = common.parse_args(__doc__ or "")
    url = common.sleep_url(args.gateway)
    with (
        LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=THREADS_PER_WORKER,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        counter = 0

        def run_once(workload: common.Workload) -> None:
            nonlocal counter
            counter += 1
            futures: dict[str, Any] = {}
            for task in workload["tasks"]:
                futures[task["name"]] = client.submit(
                    call,
                    url,
                    task["seconds"],
                    *(futures[name] for name in task["depends"]),
                    key=f"{task['name']}-{counter}",
                    pure=False,
                )
            client.gather(list(futures.values()))

        common.run_all(
            "dask",
            f"dask {dask.__version__}, distributed {distributed.__version__}",
            run_once,
            args,
            {"workers": WORKERS, "threads_per_worker": THREADS_PER_WORKER},
        )


if __name__ == "__main__":
    main()
