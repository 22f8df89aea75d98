"""``walle submit`` runs a workflow as a Ray Job on a cluster with a dashboard.

The cluster is a separate ``ray start --head --block`` process on 127.0.0.1
with its own temporary folder and ports, so it never meets the session's
Ray instance. Ending that process stops the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from service_helpers import free_port

from walle_ray.store import open_store

BIN = Path(sys.executable).parent
CLUSTER_START_TIMEOUT_S = 180.0
SUBMIT_TIMEOUT_S = 420

SPEC = """\
name: submitted
tasks:
  - name: greet
    function: echo
  - name: repeat
    function: echo
    depends: [greet]
"""


def cluster_env(temp_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    # Ray writes the address of the cluster it starts to $RAY_TMPDIR/ray, where
    # ray.init() in other processes would find it, so it goes to a private
    # folder.
    env["RAY_TMPDIR"] = str(temp_dir)
    # The cluster listens on 127.0.0.1 only and needs no token.
    env["RAY_AUTH_MODE"] = "disabled"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def job_api_responds(url: str) -> bool:
    """Tell whether the dashboard at ``url`` serves its version endpoint."""
    try:
        return httpx.get(f"{url}/api/version", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def ray_cluster(temp_dir: Path, log_path: Path) -> Iterator[str]:
    """Run a one-node Ray cluster with its dashboard; yield the dashboard URL."""
    dashboard_port = free_port()
    command = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={free_port()}",
        "--num-cpus=1",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard_port}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--ray-client-server-port={free_port()}",
        f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=cluster_env(temp_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{dashboard_port}"
    try:
        deadline = time.monotonic() + CLUSTER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"ray start exited with {process.returncode}: "
                    f"{log_path.read_text(errors='replace')[-2000:]}"
                )
            if job_api_responds(url):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Ray dashboard at {url} did not start")
            time.sleep(1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
        # Processes of the cluster that outlived ``ray start`` share its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


async def stored_execution(database_url: str, execution_id: str) -> dict[str, object]:
    store = await open_store(database_url)
    try:
        record = await store.get_execution(execution_id)
        workflow = await store.get_workflow("submitted")
    finally:
        await store.close()
    assert record is not None
    assert workflow is not None
    return {"record": record.to_dict(), "spec": workflow.spec_yaml}


def submit(
    spec_path: Path, address: str, database_url: str, temp_dir: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "walle"),
            "submit",
            str(spec_path),
            "--address",
            address,
            "--mode",
            "batch",
            "--input",
            '{"x": 1}',
            "--database",
            database_url,
        ],
        env=cluster_env(temp_dir),
        capture_output=True,
        text=True,
        timeout=SUBMIT_TIMEOUT_S,
        check=False,
    )


def test_submit_runs_ray_job_and_records(tmp_path: Path) -> None:
    spec_path = tmp_path / "flow.yaml"
    spec_path.write_text(SPEC)
    database_url = f"sqlite:///{tmp_path / 'walle.db'}"
    # Unix socket paths are limited to about 100 bytes, so the cluster's
    # folder is short and outside pytest's deep temporary path.
    temp_dir = Path(tempfile.mkdtemp(prefix="wj", dir="/tmp"))
    try:
        with ray_cluster(temp_dir, tmp_path / "ray-start.log") as address:
            completed = submit(spec_path, address, database_url, temp_dir)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert completed.returncode == 0, completed.stderr[-4000:]
    # The job's logs are streamed: they contain the JSON that walle run printed.
    assert '"execution_id"' in completed.stderr
    summary = completed.stderr.strip().splitlines()[-1]
    assert "ended SUCCEEDED" in summary
    assert "is SUCCESS" in summary
    execution_id = summary.split("execution ")[1].split()[0]

    stored = asyncio.run(stored_execution(database_url, execution_id))
    record = stored["record"]
    assert isinstance(record, dict)
    assert record["status"] == "SUCCESS"
    assert record["mode"] == "batch"
    assert record["input"] == {"x": 1}
    assert record["version"] == 1
    assert [t["name"] for t in record["tasks"]] == ["greet", "repeat"]
    assert [t["status"] for t in record["tasks"]] == ["SUCCESS", "SUCCESS"]
    assert record["output"] == {"repeat": {"x": 1}}
    assert stored["spec"] == SPEC
