"""The benchmark RayJob's entrypoint and the reading of results from its log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from walle_ray.kube.benchjob import (
    APP_DIR_ENV,
    ResultFormatError,
    extract_results,
    format_result,
)

# A stand-in benchmarks package for the entrypoint to run: it writes one
# new result file, rewrites an existing one, and exits with status 3 when
# asked to, so the tests see which files the entrypoint reports.
BENCHMARKS_MAIN = """
import json
import os
import sys
from pathlib import Path

results = Path("benchmarks/results")
results.mkdir(parents=True, exist_ok=True)
report = {"args": sys.argv[1:], "ray_address": os.environ.get("RAY_ADDRESS")}
(results / "quick.json").write_text(json.dumps(report))
(results / "nested").mkdir(exist_ok=True)
(results / "nested" / "rows.csv").write_bytes(bytes(range(256)))
print("benchmarks ran")
sys.exit(3 if "--fail" in sys.argv else 0)
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    package = tmp_path / "benchmarks"
    (package / "results").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(BENCHMARKS_MAIN)
    (package / "results" / "old.json").write_text("{}")
    return tmp_path


def run_entrypoint(app_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "walle_ray.kube.benchjob", *args],
        env={
            "PATH": "/usr/bin:/bin",
            APP_DIR_ENV: str(app_dir),
            "RAY_ADDRESS": "http://127.0.0.1:8265",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_entrypoint_prints_new_results(app_dir: Path) -> None:
    completed = run_entrypoint(app_dir, "--quick")
    assert completed.returncode == 0, completed.stderr
    assert "benchmarks ran" in completed.stdout
    results = extract_results(completed.stdout)
    assert sorted(results) == ["nested/rows.csv", "quick.json"]
    report = json.loads(results["quick.json"])
    assert report["args"] == ["--quick"]
    # The benchmarks join the job's cluster, so its address passes through.
    assert report["ray_address"] == "http://127.0.0.1:8265"
    assert results["nested/rows.csv"] == bytes(range(256))


def test_entrypoint_passes_exit_status(app_dir: Path) -> None:
    completed = run_entrypoint(app_dir, "--fail")
    assert completed.returncode == 3
    assert "quick.json" in extract_results(completed.stdout)


def test_results_round_trip_with_noise() -> None:
    files = {"a.json": b"{}", "empty.txt": b"", "b/c.md": "ü\n".encode()}
    log = "\n".join(
        f"2026-01-01 INFO line {i}\n{format_result(name, data)}"
        for i, (name, data) in enumerate(files.items())
    )
    assert extract_results(log) == files


def test_tampered_result_rejected() -> None:
    block = format_result("a.json", b'{"makespan_s": 1.0}')
    lines = block.splitlines()
    lines[1] = lines[1][:-4] + "AAAA"
    with pytest.raises(ResultFormatError, match="does not match its SHA-256"):
        extract_results("\n".join(lines))


def test_cut_off_result_rejected() -> None:
    block = format_result("a.json", b"x" * 500)
    with pytest.raises(ResultFormatError, match="cut off"):
        extract_results(block.splitlines()[0] + "\n")


@pytest.mark.parametrize("name", ["../escape.json", "/etc/passwd"])
def test_result_outside_folder_rejected(name: str) -> None:
    with pytest.raises(ResultFormatError, match="not a relative path"):
        extract_results(format_result(name, b"{}"))


def test_invalid_base64_rejected() -> None:
    lines = format_result("a.json", b"{}").splitlines()
    lines[1] = "not*base64"
    with pytest.raises(ResultFormatError, match="not valid base64"):
        extract_results("\n".join(lines))
