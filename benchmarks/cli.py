"""Command line of the benchmark suite."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from benchmarks.plan import SECTIONS, make_plan
from benchmarks.report import build_results, write_outputs
from benchmarks.suite import Suite

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
# A quick run writes elsewhere by default, so that it never replaces the
# committed results of a full run.
QUICK_OUT = DEFAULT_OUT / "quick"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure Walle on Ray against a machine-limit baseline, "
        "raw Ray and peer engines.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny workloads, 1 run each, no peers: checks the harness",
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated parts to run, from: {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--runs", type=int, help="measured runs per cell (default 5, or 1 with --quick)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for results.json, results.md and plots (default "
        f"{DEFAULT_OUT}, or {QUICK_OUT} with --quick)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = QUICK_OUT if args.quick else DEFAULT_OUT
    if args.runs is not None and args.runs < 1:
        parser.error(f"invalid --runs {args.runs}: use 1 or more")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The engine logs every execution at INFO; keep the suite's output readable.
    logging.getLogger("walle_ray").setLevel(logging.WARNING)
    only = None
    if args.only:
        only = {name.strip() for name in args.only.split(",") if name.strip()}
    try:
        plan = make_plan(quick=args.quick, only=only, runs=args.runs)
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    suite = Suite(plan, args.out)
    started = time.time()
    suite.run()
    results = build_results(suite, started, time.time())
    for path in write_outputs(results, args.out):
        print(f"wrote {path}")
