"""``walle kube`` against a Kubernetes-like API server on 127.0.0.1.

The ``kubernetes`` client talks real HTTP to ``kube_api_server``, which
stores objects like the API server and plays the KubeRay operator's part
by setting statuses, so the commands' success and error paths run without
a cluster.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from kube_api_server import KubeApiState, kube_api_server, write_kubeconfig

from walle_ray.cli import main
from walle_ray.kube.benchjob import format_result
from walle_ray.kube.client import KubeRayClient, load_api_client

READY = {
    "serviceStatus": "Running",
    "numServeEndpoints": 2,
    "conditions": [
        {"type": "Ready", "status": "True", "reason": "NonZeroServeEndpoints"}
    ],
    "activeServiceStatus": {
        "rayClusterName": "walle-x7k2p",
        "applicationStatuses": {"walle": {"status": "RUNNING"}},
    },
}
NOT_READY = {
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Initializing",
            "message": "waiting for the head pod",
        }
    ]
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Path, KubeApiState]]:
    with kube_api_server() as (url, state):
        yield write_kubeconfig(tmp_path / "kubeconfig", url), state


@pytest.fixture(autouse=True)
def no_ambient_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's own kubeconfig and service account out of the tests."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)


def walle(*args: str) -> Result:
    return CliRunner().invoke(main, ["kube", *args])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# Errors


def test_no_kubeconfig_reports_no_cluster() -> None:
    result = walle("status")
    assert result.exit_code == 1
    assert "no Kubernetes cluster configured" in result.output
    assert "KUBECONFIG" in result.output


def test_invalid_kubeconfig_named(tmp_path: Path) -> None:
    path = tmp_path / "broken"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: 7\n")
    result = walle("status", "--kubeconfig", str(path))
    assert result.exit_code == 1
    assert str(path) in result.output


def test_closed_port_reports_unreachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url)
    result = walle("apply", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 1
    assert "not reachable (Connection refused)" in result.output
    assert url in result.output


@pytest.mark.parametrize("command", ["apply", "status", "delete", "bench"])
def test_missing_operator_reported(
    command: str, api: tuple[Path, KubeApiState]
) -> None:
    kubeconfig, state = api
    state.ray_api = "missing"
    result = walle(command, "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 1
    assert "no ray.io/v1 API" in result.output
    assert "helm install kuberay-operator" in result.output
    assert not any(method == "POST" for method, _ in state.requests)


@pytest.mark.parametrize("command", ["apply", "status", "delete"])
def test_forbidden_reports_access_denied(
    command: str, api: tuple[Path, KubeApiState]
) -> None:
    kubeconfig, state = api
    state.ray_api = "forbidden"
    result = walle(command, "--kubeconfig", str(kubeconfig), "-n", "team-a")
    assert result.exit_code == 1
    assert "access denied" in result.output
    assert "HTTP 403" in result.output
    assert "namespace 'team-a'" in result.output


def test_forbidden_object_reports_access_denied(
    api: tuple[Path, KubeApiState],
) -> None:
    kubeconfig, state = api
    kube = KubeRayClient(load_api_client(str(kubeconfig)), "default")
    kube.check_operator()
    state.ray_api = "forbidden"
    with pytest.raises(Exception, match="access denied") as info:
        kube.get_custom("RayService", "walle")
    assert type(info.value).__name__ == "AccessDeniedError"


# apply, status, delete


def test_apply_creates_and_waits(api: tuple[Path, KubeApiState]) -> None:
    kubeconfig, state = api
    state.statuses[("rayservices", "walle")] = READY
    result = walle("apply", "--kubeconfig", str(kubeconfig), "--timeout", "30")
    assert result.exit_code == 0, result.output
    assert "RayService walle: created" in result.output
    assert "is ready on RayCluster walle-x7k2p" in result.output
    stored = {key for key in state.objects}
    assert stored == {
        ("secrets", "walle-database"),
        ("services", "walle-postgres"),
        ("statefulsets", "walle-postgres"),
        ("rayservices", "walle"),
        ("ingresses", "walle"),
    }


def test_apply_twice_keeps_secret(api: tuple[Path, KubeApiState]) -> None:
    kubeconfig, state = api
    state.statuses[("rayservices", "walle")] = READY
    first = walle("apply", "--kubeconfig", str(kubeconfig), "--no-wait")
    assert first.exit_code == 0, first.output
    state.objects[("secrets", "walle-database")]["stringData"]["password"] = "real"
    second = walle(
        "apply", "--kubeconfig", str(kubeconfig), "--no-wait", "--max-workers", "9"
    )
    assert second.exit_code == 0, second.output
    assert "Secret walle-database: kept" in second.output
    assert "RayService walle: updated" in second.output
    secret = state.objects[("secrets", "walle-database")]
    assert secret["stringData"]["password"] == "real"
    service = state.objects[("rayservices", "walle")]
    groups = service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    assert groups[0]["maxReplicas"] == 9


def test_apply_times_out_when_not_ready(api: tuple[Path, KubeApiState]) -> None:
    kubeconfig, state = api
    state.statuses[("rayservices", "walle")] = NOT_READY
    result = walle("apply", "--kubeconfig", str(kubeconfig), "--timeout", "0")
    assert result.exit_code == 1
    assert "not ready after 0s" in result.output
    assert "waiting for the head pod" in result.output


def test_apply_external_database_skips_postgres(
    api: tuple[Path, KubeApiState],
) -> None:
    kubeconfig, state = api
    result = walle(
        "apply", "--kubeconfig", str(kubeconfig), "--no-wait", "--database-secret", "db"
    )
    assert result.exit_code == 0, result.output
    assert {plural for plural, _ in state.objects} == {"rayservices", "ingresses"}


def test_status_json_reports_service_and_jobs(
    api: tuple[Path, KubeApiState],
) -> None:
    kubeconfig, state = api
    state.statuses[("rayservices", "walle")] = READY
    state.statuses[("rayjobs", "*")] = {
        "jobDeploymentStatus": "Running",
        "jobStatus": "RUNNING",
    }
    assert walle("apply", "--kubeconfig", str(kubeconfig)).exit_code == 0
    state.objects[("rayjobs", "walle-workflow")] = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {
            "name": "walle-workflow",
            "labels": {"app.kubernetes.io/instance": "walle"},
        },
    }
    result = walle("status", "--kubeconfig", str(kubeconfig), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ready"] is True
    assert report["cluster"] == "walle-x7k2p"
    assert report["applications"] == {"walle": "RUNNING"}
    assert report["jobs"] == {"walle-workflow": "Running/RUNNING"}


def test_status_of_absent_service_fails(api: tuple[Path, KubeApiState]) -> None:
    kubeconfig, _ = api
    result = walle("status", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 1
    assert "RayService walle: not found in default" in result.output


def test_delete_keeps_database(api: tuple[Path, KubeApiState]) -> None:
    kubeconfig, state = api
    assert walle("apply", "--kubeconfig", str(kubeconfig), "--no-wait").exit_code == 0
    result = walle("delete", "--kubeconfig", str(kubeconfig))
    assert result.exit_code == 0, result.output
    assert "RayService walle: deleted" in result.output
    assert set(state.objects) == {
        ("secrets", "walle-database"),
        ("services", "walle-postgres"),
        ("statefulsets", "walle-postgres"),
    }
    again = walle("delete", "--kubeconfig", str(kubeconfig), "--database")
    assert again.exit_code == 0, again.output
    assert state.objects == {}


# bench


def play_bench_job(log: str, job_status: str) -> Any:
    """Return an ``on_create`` hook that starts a submitter pod for RayJobs."""

    def on_create(state: KubeApiState, plural: str, obj: dict[str, Any]) -> None:
        if plural != "rayjobs":
            return
        name = obj["metadata"]["name"]
        pod = f"{name}-7xk2q"
        state.objects[("pods", pod)] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod,
                "labels": {"job-name": name},
                "creationTimestamp": "2026-01-01T00:00:05Z",
            },
        }
        state.logs[pod] = log
        state.statuses[("rayjobs", name)] = {
            "jobDeploymentStatus": "Complete",
            "jobStatus": job_status,
        }

    return on_create


def test_bench_fetches_results(api: tuple[Path, KubeApiState], tmp_path: Path) -> None:
    kubeconfig, state = api
    files = {"quick.json": b'{"makespan_s": 1.5}\n', "runs/a.csv": b"mode,s\nfull,1\n"}
    log = "benchmark output\n" + "".join(format_result(n, d) for n, d in files.items())
    state.on_create = play_bench_job(log, "SUCCEEDED")
    results = tmp_path / "results"
    result = walle("bench", "--kubeconfig", str(kubeconfig), "--results", str(results))
    assert result.exit_code == 0, result.output
    (job_dir,) = results.iterdir()
    assert job_dir.name.startswith("walle-bench-")
    for name, data in files.items():
        assert (job_dir / name).read_bytes() == data
    ((plural, job_name),) = [k for k in state.objects if k[0] == "rayjobs"]
    job = state.objects[(plural, job_name)]
    assert job["spec"]["entrypoint"] == "python -m walle_ray.kube.benchjob --quick"
    assert "rayClusterSpec" in job["spec"]


def test_bench_on_service_selects_cluster(
    api: tuple[Path, KubeApiState], tmp_path: Path
) -> None:
    kubeconfig, state = api
    state.statuses[("rayservices", "walle")] = READY
    assert walle("apply", "--kubeconfig", str(kubeconfig)).exit_code == 0
    state.on_create = play_bench_job("no results\n", "SUCCEEDED")
    result = walle(
        "bench",
        "--kubeconfig",
        str(kubeconfig),
        "--on-service",
        "--args",
        "--full",
        "--results",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    (job,) = [obj for (p, _), obj in state.objects.items() if p == "rayjobs"]
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": "walle-x7k2p"}
    assert job["spec"]["entrypoint"].endswith("benchjob --full")


def test_bench_failed_job_exits_1(
    api: tuple[Path, KubeApiState], tmp_path: Path
) -> None:
    kubeconfig, state = api
    state.on_create = play_bench_job("Traceback: boom\n", "FAILED")
    result = walle("bench", "--kubeconfig", str(kubeconfig), "--results", str(tmp_path))
    assert result.exit_code == 1
    assert "did not succeed" in result.output
    assert "kubectl logs -l job-name=walle-bench-" in result.output
