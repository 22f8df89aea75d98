"""The walle command line: run, validate and graph, in-process and as a program."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
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
WALLE = Path(sys.executable).parent / "walle"


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
    database = f"sqlite:///{tmp_path / 'walle.db'}"
    args += ["--database", database]
    if input_value is not None:
        args += ["--input", json.dumps(input_value)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    data = json.loads(result.stdout)
    assert data["status"] == expected, data
    assert result.exit_code == (0 if expected == "SUCCESS" else 1)
    shown = CliRunner().invoke(
        main, ["show", data["execution_id"], "--json", "--database", database]
    )
    assert shown.exit_code == 0, shown.output
    stored = json.loads(shown.stdout)
    assert stored["status"] == expected
    assert {t["name"]: t["status"] for t in stored["tasks"]} == {
        t["name"]: t["status"] for t in data["tasks"]
    }
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


def test_signal_cancels_execution_once() -> None:
    """The first SIGINT cancels the execution; a second one interrupts at once."""
    from walle_ray.cli import _cancel_on_signals
    from walle_ray.control import ExecutionControl

    control = ExecutionControl()
    before = signal.getsignal(signal.SIGINT)
    with _cancel_on_signals(control):
        signal.raise_signal(signal.SIGINT)
        assert control.cancelled
        assert control.reason == "interrupted by SIGINT"
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


SLOW_SPEC = (
    "name: slow\n"
    "tasks:\n"
    "- name: nap\n"
    "  function: sleep\n"
    "  body: {seconds: 600}\n"
    "  timeout: 700s\n"
    "- name: after\n"
    "  function: echo\n"
    "  depends: [nap]\n"
)


def _start_slow_run(
    tmp_path: Path, *, new_session: bool = False
) -> tuple[subprocess.Popen[str], Path, dict[str, str]]:
    """Start ``walle run`` on a task that sleeps 600 s; wait until it runs.

    Returns the process, its SQLite store and its environment.
    """
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW_SPEC)
    database = tmp_path / "walle.db"
    env = {**os.environ, "WALLE_DATABASE_URL": f"sqlite:///{database}"}
    env.pop("OPENFAAS_GATEWAY", None)
    env["RAY_ADDRESS"] = ""
    process = subprocess.Popen(
        [str(WALLE), "run", str(spec), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=new_session,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not _task_running(database, "nap"):
            assert process.poll() is None, process.communicate()[1][-2000:]
            time.sleep(0.5)
        assert _task_running(database, "nap"), "task 'nap' never started"
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process, database, env


def test_run_interrupted_records_cancelled(tmp_path: Path) -> None:
    """SIGINT during walle run cancels the running call and stores CANCELLED."""
    process, database, _ = _start_slow_run(tmp_path)
    try:
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # The call sleeps 600 s, so ending well before that means it was cancelled.
    assert time.monotonic() - started < 120
    assert process.returncode == 130, stderr[-2000:]
    data = json.loads(stdout)
    assert data["status"] == "CANCELLED"
    assert "SIGINT" in data["error"]
    with sqlite3.connect(database) as connection:
        stored = dict(connection.execute("SELECT name, status FROM task_runs"))
        (execution_status,) = connection.execute(
            "SELECT status FROM executions"
        ).fetchone()
    assert execution_status == "CANCELLED"
    assert stored["nap"] == "CANCELLED"


def test_run_killed_ends_as_error(tmp_path: Path) -> None:
    """A SIGKILLed walle run stays RUNNING until the next listing ends it."""
    process, database, env = _start_slow_run(tmp_path, new_session=True)
    try:
        process.kill()
        process.wait(timeout=30)
        with sqlite3.connect(database) as connection:
            (left,) = connection.execute("SELECT status FROM executions").fetchone()
        assert left == "RUNNING"
        listed = subprocess.run(
            [str(WALLE), "executions", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        # Ray's and the gateway's processes share the killed process's session.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    assert listed.returncode == 0, listed.stderr[-2000:]
    (execution,) = json.loads(listed.stdout)["executions"]
    assert execution["status"] == "ERROR"
    assert f"pid {process.pid} on" in execution["error"]
    assert "ended before the execution did" in execution["error"]
    assert execution["ended_at"] is not None


def _task_running(database: Path, task: str) -> bool:
    if not database.exists():
        return False
    try:
        with sqlite3.connect(database) as connection:
            row = connection.execute(
                "SELECT status FROM task_runs WHERE name = ?", (task,)
            ).fetchone()
    except sqlite3.OperationalError:
        return False
    return row is not None and row[0] == "RUNNING"


def test_run_missing_functions_dir_is_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(EXAMPLES / "example-workflow.yaml"),
            "--functions",
            str(tmp_path / "missing"),
            "--no-record",
        ],
    )
    assert result.exit_code == 2
    assert "missing" in result.output
    assert "does not exist" in result.output


def test_run_broken_handler_is_usage_error(tmp_path: Path) -> None:
    broken = tmp_path / "functions" / "tokenize"
    broken.mkdir(parents=True)
    (broken / "handler.py").write_text("def handle(event, context)\n")
    database = tmp_path / "walle.db"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(EXAMPLES / "example-workflow.yaml"),
            "--functions",
            str(tmp_path / "functions"),
            "--database",
            f"sqlite:///{database}",
        ],
    )
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "tokenize" in result.stderr
    with sqlite3.connect(database) as connection:
        (status,) = connection.execute("SELECT status FROM executions").fetchone()
    assert status == "ERROR"


def _closed_loopback_address() -> str:
    """Return a loopback ``host:port`` where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


def _walle_fails(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run the walle program and check that it exits 1 without a traceback."""
    walle = Path(sys.executable).parent / "walle"
    completed = subprocess.run(
        [str(walle), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=cwd,
    )
    assert completed.returncode == 1, completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr
    return completed


@pytest.mark.parametrize("kind", ["malformed", "unreachable"])
def test_run_bad_ray_address_fails_cleanly(kind: str, tmp_path: Path) -> None:
    """A bad RAY_ADDRESS ends walle run with a message, not a traceback."""
    address = (
        "head-node:not-a-port" if kind == "malformed" else _closed_loopback_address()
    )
    database = tmp_path / "walle.db"
    env = {
        **os.environ,
        "RAY_ADDRESS": address,
        "WALLE_DATABASE_URL": f"sqlite:///{database}",
    }
    spec = tmp_path / "one.yaml"
    spec.write_text("name: one\ntasks:\n- name: a\n  url: http://127.0.0.1:9/x\n")
    completed = _walle_fails(["run", str(spec)], env, tmp_path)
    assert "Ray failed to start" in completed.stderr
    assert address in completed.stderr
    with sqlite3.connect(database) as connection:
        (status, error) = connection.execute(
            "SELECT status, error FROM executions"
        ).fetchone()
    assert status == "ERROR"
    assert "Ray failed to start" in error


def test_serve_unreachable_ray_address_fails_cleanly(tmp_path: Path) -> None:
    address = _closed_loopback_address()
    env = {**os.environ, "RAY_ADDRESS": address}
    args = ["serve", "--host", "127.0.0.1", "--port", "18999"]
    completed = _walle_fails(args, env, tmp_path)
    assert f"no Ray cluster reachable at '{address}'" in completed.stderr
