"""The walle command line: run, validate and graph, in-process and as a program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from walle_ray.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Every example with the input it needs and the status it ends with.
EXAMPLE_RUNS: dict[str, tuple[Any, str]] = {
    "example-workflow.yaml": (None, "SUCCESS"),
    "sequence-pattern.yaml": ({"text": "Walle on Ray"}, "SUCCESS"),
    "parallel-split-pattern.yaml": ({"numbers": [3, 1, 4, 1, 5]}, "SUCCESS"),
    "synchronization-pattern.yaml": ({"text": "One fish. Two fish."}, "SUCCESS"),
    "merge-pattern.yaml": (None, "SUCCESS"),
    "data-passing.yaml": ({"text": "to be or not", "operation": "title"}, "SUCCESS"),
    "conditions.yaml": ({"numbers": [4, 8, 15, 16, 23, 42]}, "SUCCESS"),
    "fan-out.yaml": (None, "SUCCESS"),
    "failure-policies.yaml": (None, "ERROR"),
}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_every_example_is_listed() -> None:
    on_disk = {path.name for path in EXAMPLES.glob("*.yaml")}
    assert on_disk == set(EXAMPLE_RUNS)


def test_validate_accepts_examples() -> None:
    paths = [str(path) for path in sorted(EXAMPLES.glob("*.yaml"))]
    result = invoke("validate", *paths)
    assert result.exit_code == 0, result.output


def test_validate_rejects_typo(tmp_path: Path) -> None:
    spec = tmp_path / "typo.yaml"
    spec.write_text(
        "name: typo\ntasks:\n- name: a\n  url: http://127.0.0.1:1/\n  depend: [b]\n"
    )
    result = invoke("validate", str(spec))
    assert result.exit_code == 2
    assert "unknown field 'depend'" in result.output
    assert "Did you mean 'depends'?" in result.output
    assert "line 5" in result.output


def test_validate_rejects_cycle(tmp_path: Path) -> None:
    spec = tmp_path / "cycle.yaml"
    spec.write_text(
        "name: cycle\ntasks:\n"
        "- {name: a, url: 'http://127.0.0.1:1/', depends: [c]}\n"
        "- {name: b, url: 'http://127.0.0.1:1/', depends: [a]}\n"
        "- {name: c, url: 'http://127.0.0.1:1/', depends: [b]}\n"
    )
    result = invoke("validate", str(spec))
    assert result.exit_code == 2
    assert "a -> b -> c -> a" in result.output


def test_validate_rejects_template_not_upstream(tmp_path: Path) -> None:
    spec = tmp_path / "refs.yaml"
    spec.write_text(
        "name: refs\ntasks:\n"
        "- {name: a, url: 'http://127.0.0.1:1/'}\n"
        "- {name: b, url: 'http://127.0.0.1:1/', body: {x: '{{ tasks.a.output }}'}}\n"
    )
    result = invoke("validate", str(spec))
    assert result.exit_code == 2
    assert "not upstream of 'b'" in result.output


def test_graph_prints_levels_and_critical_path() -> None:
    result = invoke(
        "graph",
        str(EXAMPLES / "example-workflow.yaml"),
        "--durations",
        "task-1=50ms,task-2=300ms,task-3=100ms,task-4=200ms",
    )
    assert result.exit_code == 0, result.output
    assert "task-2 -> task-3" in result.output
    assert "critical path (0.4 s)" in result.output
    assert "sync 0.65 s, batch 0.5 s, full 0.4 s" in result.output


def test_run_missing_file_is_usage_error() -> None:
    result = invoke("run", "/nonexistent/spec.yaml")
    assert result.exit_code == 2


def test_run_invalid_input_is_usage_error() -> None:
    result = invoke("run", str(EXAMPLES / "sequence-pattern.yaml"), "--input", "{bad")
    assert result.exit_code == 2
    assert "--input" in result.output


@pytest.mark.usefixtures("ray_session")
@pytest.mark.parametrize("example", sorted(EXAMPLE_RUNS))
def test_examples_run_offline(example: str, tmp_path: Path) -> None:
    input_value, expected = EXAMPLE_RUNS[example]
    args = ["run", str(EXAMPLES / example), "--json", "--invokers", "1"]
    args += ["--database", f"sqlite:///{tmp_path / 'walle.db'}"]
    if input_value is not None:
        args += ["--input", json.dumps(input_value)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    data = json.loads(result.stdout)
    assert data["status"] == expected, data
    assert result.exit_code == (0 if expected == "SUCCESS" else 1)
    for task in data["tasks"]:
        assert set(task) >= {
            "name",
            "status",
            "attempts",
            "started_at",
            "ended_at",
            "duration_s",
            "output",
            "error",
        }


def test_run_as_program(tmp_path: Path) -> None:
    """The installed command runs the main example end to end in a new process."""
    env = {
        **os.environ,
        "WALLE_DATABASE_URL": f"sqlite:///{tmp_path / 'walle.db'}",
        "RAY_ADDRESS": "",
    }
    env.pop("OPENFAAS_GATEWAY", None)
    walle = Path(sys.executable).parent / "walle"
    completed = subprocess.run(
        [str(walle), "run", str(EXAMPLES / "example-workflow.yaml"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    data = json.loads(completed.stdout)
    assert data["status"] == "SUCCESS"
    tasks = {task["name"]: task for task in data["tasks"]}
    assert tasks["task-4"]["output"]["top"][0][1] >= 1
    assert tasks["task-3"]["output"]["sections"] == ["stats", "tokens"]
    listed = subprocess.run(
        [str(walle), "executions", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert data["execution_id"] in listed.stdout
