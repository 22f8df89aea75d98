"""Profile where Walle spends its time on one workload.

``python -m benchmarks.profile [--workload ID] [--mode MODE] [--runs N]``
runs the workload N times through ``run_workflow`` under cProfile in the
driver, while py-spy samples the invoker actors and the gateway process.
It writes the driver's top functions and each process's hottest frames
(by own time, from py-spy's collapsed stacks) to
``benchmarks/results/profile-<workload>-<mode>.txt``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks import engines
from benchmarks import plan as plans
from benchmarks.gateway_process import GatewayProcess
from benchmarks.suite import driver_node_pool, ray_init_target
from benchmarks.workloads import Workload

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
TOP_FUNCTIONS = 30
TOP_FRAMES = 25
PY_SPY_RATE_HZ = 200


def find_workload(workload_id: str) -> Workload:
    candidates = [plans.throughput_workload()]
    candidates += plans.full_workloads() + plans.quick_workloads()
    for workload in candidates:
        if workload.id == workload_id:
            return workload
    known = ", ".join(w.id for w in plans.full_workloads())
    raise SystemExit(f"error: unknown workload {workload_id!r}: use one of {known}")


def summarize_collapsed(path: Path, top: int = TOP_FRAMES) -> str:
    """Rank the frames of py-spy's collapsed stacks by own and by total samples.

    A frame's own samples are those where it is the innermost frame; its
    total samples are those where it is anywhere on the stack.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "  (no samples)\n"
    lines = [f"  {total} samples holding the GIL; by own samples:\n"]
    for frame, count in own.most_common(top):
        lines.append(f"  {100 * count / total:5.1f}%  {frame}\n")
    lines.append("  by total samples:\n")
    for frame, count in inclusive.most_common(top):
        lines.append(f"  {100 * count / total:5.1f}%  {frame}\n")
    return "".join(lines)


def start_py_spy(
    pid: int, output: Path, duration_s: int
) -> subprocess.Popen[bytes] | None:
    executable = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(executable).exists():
        return None
    return subprocess.Popen(
        [
            executable,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(duration_s),
            "--rate",
            str(PY_SPY_RATE_HZ),
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _time_runs(
    run_once: engines.RunOnce, runs: int, concurrency: int
) -> tuple[list[float], float]:
    """Return each run's makespan, ``concurrency`` runs at a time, and the total."""
    if concurrency > 1:
        result = engines.measure_throughput(run_once, concurrency, runs)
        return result.latencies_s, result.elapsed_s
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - begin)
    return times, sum(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--workload", default="fanout-1000@0ms")
    parser.add_argument("--mode", default="full", choices=plans.MODES)
    parser.add_argument("--runs", type=int, default=5, help="executions to profile")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="run the executions from this many threads; above 1, py-spy "
        "samples the driver in place of cProfile",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("walle_ray").setLevel(logging.WARNING)
    workload = find_workload(args.workload)

    import ray

    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"profile-{workload.id.replace('@', '-')}-{args.mode}"
    if args.concurrency > 1:
        stem += f"-c{args.concurrency}"
    with GatewayProcess() as gateway:
        ray.init(
            **ray_init_target(),
            include_dashboard=False,
            log_to_driver=False,
        )
        try:
            pool = driver_node_pool("walle-profile-invoker")
            actor_pids = pool.wait_ready()
            walle = engines.walle_runner(workload, args.mode, gateway.url, pool)
            raw = engines.raw_ray_runner(workload, gateway.url, pool)
            walle()
            raw()
            raw_times, _ = _time_runs(raw, args.runs, args.concurrency)

            # Size py-spy's recording from an unprofiled pass over the runs.
            _, estimate = _time_runs(walle, args.runs, args.concurrency)
            # cProfile slows the driver, so leave room beyond the estimate.
            duration = max(2, int(estimate * 2) + 2)
            targets = {f"invoker-{i}": pid for i, pid in enumerate(actor_pids)}
            targets["gateway"] = gateway.pid
            if args.concurrency > 1:
                targets["driver"] = os.getpid()
            spies = {
                name: (start_py_spy(pid, args.out / f"{stem}-{name}.txt", duration))
                for name, pid in targets.items()
            }
            time.sleep(0.5)
            profiler = cProfile.Profile()
            if args.concurrency > 1:
                walle_times, _ = _time_runs(walle, args.runs, args.concurrency)
            else:
                walle_times = []
                for _ in range(args.runs):
                    begin = time.perf_counter()
                    profiler.enable()
                    walle()
                    profiler.disable()
                    walle_times.append(time.perf_counter() - begin)
            for spy in spies.values():
                if spy is not None:
                    spy.wait()
            pool.shutdown()
        finally:
            ray.shutdown()

    report = io.StringIO()
    report.write(
        f"workload {workload.id}, mode {args.mode}, {workload.tasks} tasks, "
        f"{args.runs} runs from {args.concurrency} thread(s)\n"
        f"walle (profiled) makespans s: "
        f"{', '.join(f'{t:.3f}' for t in sorted(walle_times))}\n"
        f"raw Ray makespans s: "
        f"{', '.join(f'{t:.3f}' for t in sorted(raw_times))}\n\n"
    )
    if args.concurrency == 1:
        report.write("== driver, cProfile, by own time ==\n")
        stats = pstats.Stats(profiler, stream=report)
        stats.sort_stats("tottime").print_stats(TOP_FUNCTIONS)
        report.write("== driver, cProfile, by cumulative time ==\n")
        stats.sort_stats("cumulative").print_stats(TOP_FUNCTIONS)
    for name in targets:
        path = args.out / f"{stem}-{name}.txt"
        report.write(f"== {name} (py-spy, own samples) ==\n")
        if spies[name] is None or not path.exists():
            report.write("  py-spy is not installed or recorded nothing\n")
            continue
        report.write(summarize_collapsed(path))
        path.unlink()
    output = args.out / f"{stem}.txt"
    output.write_text(report.getvalue(), encoding="utf-8")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
