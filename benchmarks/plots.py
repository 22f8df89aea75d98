"""PNG plots of a results document, drawn with matplotlib when it is installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SYSTEM_STYLES = {
    "machine-limit": ("machine limit", "k"),
    "raw-ray": ("raw Ray", "tab:blue"),
    "ray-actors": ("Ray actors", "tab:green"),
    "walle": ("Walle full", "tab:red"),
}


def write_plots(results: dict[str, Any], out_dir: Path) -> tuple[list[Path], str]:
    """Draw the plots into ``out_dir``; return the files and a note, if any."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: F401
    except ImportError:
        return [], (
            "Plots skipped: matplotlib is not installed (pip install -e '.[bench]')."
        )
    paths = [
        _overhead_plot(results, out_dir / "overhead-by-size.png"),
        _ratio_plot(results, out_dir / "makespan-vs-machine.png"),
        _throughput_plot(results, out_dir / "throughput.png"),
    ]
    return [p for p in paths if p is not None], ""


def _overhead_plot(results: dict[str, Any], path: Path) -> Path | None:
    import matplotlib.pyplot as plt

    sizes: dict[str, list[tuple[int, float]]] = {}
    for cell in results["cells"]:
        if not cell["workload"].startswith("random-") or "@0ms" not in cell["workload"]:
            continue
        if cell["mode"] != "full" or "overhead_per_task_ms" not in cell:
            continue
        size = int(cell["workload"].split("-")[1].split("@")[0])
        sizes.setdefault(cell["system"], []).append(
            (size, cell["overhead_per_task_ms"])
        )
    if not sizes:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for system, points in sorted(sizes.items()):
        points.sort()
        label, color = SYSTEM_STYLES.get(system, (system, None))
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            label=label,
            color=color,
        )
    ax.set_xscale("log")
    ax.set_xlabel("tasks in the random layered DAG (0 ms calls)")
    ax.set_ylabel("overhead per task (ms)")
    ax.set_title("Overhead per task by DAG size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _ratio_plot(results: dict[str, Any], path: Path) -> Path | None:
    import matplotlib.pyplot as plt

    systems = [
        s
        for s in ("raw-ray", "walle", "dask", "prefect", "ray-workflows")
        if any(c["system"] == s and "ratio_to_machine" in c for c in results["cells"])
    ]
    workloads = [w["id"] for w in results["workloads"]]
    ratios = {
        (c["workload"], c["system"]): c["ratio_to_machine"]
        for c in results["cells"]
        if c["mode"] == "full" and "ratio_to_machine" in c
    }
    if not ratios:
        return None
    fig, ax = plt.subplots(figsize=(max(8, len(workloads) * 0.6), 5))
    width = 0.8 / max(1, len(systems))
    for index, system in enumerate(systems):
        xs = [i + index * width for i in range(len(workloads))]
        ys = [ratios.get((w, system), 0.0) for w in workloads]
        label = SYSTEM_STYLES.get(system, (system, None))[0]
        ax.bar(xs, ys, width=width, label=label)
    ax.axhline(1.0, color="k", linewidth=0.8)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(workloads))])
    ax.set_xticklabels(workloads, rotation=60, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("median makespan / machine limit (log)")
    ax.set_title("Makespan relative to the machine limit (missing bar: not run)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _throughput_plot(results: dict[str, Any], path: Path) -> Path | None:
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float]]] = {}
    for row in results["throughput"]:
        key = f"{row['system']} ({row['via']})"
        series.setdefault(key, []).append((row["concurrency"], row["executions_per_s"]))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, points in sorted(series.items()):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=key)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("concurrent executions")
    ax.set_ylabel("executions per second")
    ax.set_title("Throughput, example shape with 10 ms calls")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
