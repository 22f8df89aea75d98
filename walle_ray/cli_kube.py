"""``walle kube``: render, apply, inspect and delete Walle on a KubeRay cluster."""

from __future__ import annotations

import functools
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from walle_ray.kube.manifests import (
    BENCH_COMMAND,
    HEADER,
    KubeSettings,
    bench_job,
    check_name,
    manifest_text,
    render_manifests,
)

EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_READY_TIMEOUT_S = 600.0
DEFAULT_BENCH_TIMEOUT_S = 3600.0

F = TypeVar("F", bound=Callable[..., Any])


def _settings_options(func: F) -> F:
    """Add the options that ``KubeSettings`` is built from."""
    defaults = KubeSettings()
    options = [
        click.option(
            "--name",
            default=defaults.name,
            show_default=True,
            help="RayService name; also the prefix of the other objects' names.",
        ),
        click.option(
            "--namespace",
            "-n",
            default=defaults.namespace,
            show_default=True,
            help="Namespace of every object.",
        ),
        click.option(
            "--image",
            default=defaults.image,
            show_default=True,
            help="Container image with Walle installed (see the Dockerfile).",
        ),
        click.option(
            "--replicas",
            type=click.IntRange(min=0),
            help="Ray worker pods at start. Default: --min-workers.",
        ),
        click.option(
            "--min-workers",
            type=click.IntRange(min=0),
            default=defaults.min_workers,
            show_default=True,
            help="Minimum number of Ray worker pods the autoscaler keeps.",
        ),
        click.option(
            "--max-workers",
            type=click.IntRange(min=1),
            default=defaults.max_workers,
            show_default=True,
            help="Maximum number of Ray worker pods the autoscaler starts.",
        ),
        click.option(
            "--head-cpu",
            default=defaults.head_cpu,
            show_default=True,
            help="CPU of the Ray head pod, as a Kubernetes quantity.",
        ),
        click.option(
            "--head-memory",
            default=defaults.head_memory,
            show_default=True,
            help="Memory of the Ray head pod, as a Kubernetes quantity.",
        ),
        click.option(
            "--worker-cpu",
            default=defaults.worker_cpu,
            show_default=True,
            help="CPU of each Ray worker pod.",
        ),
        click.option(
            "--worker-memory",
            default=defaults.worker_memory,
            show_default=True,
            help="Memory of each Ray worker pod.",
        ),
        click.option(
            "--gateway",
            metavar="URL",
            default=defaults.gateway,
            show_default=True,
            help="OpenFaaS gateway URL as seen from inside the cluster.",
        ),
        click.option(
            "--database-secret",
            metavar="NAME",
            help="Existing Secret whose key 'url' contains the database URL. "
            "Without it a small PostgreSQL StatefulSet is deployed.",
        ),
        click.option(
            "--cluster",
            metavar="NAME",
            help="Run the RayJobs on this existing RayCluster instead of "
            "creating one per job.",
        ),
        click.option(
            "--ingress-host", metavar="HOST", help="Host of the Ingress rule."
        ),
        click.option(
            "--ingress-class", metavar="CLASS", help="IngressClass of the Ingress."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _build_settings(params: dict[str, Any]) -> KubeSettings:
    settings = KubeSettings(
        name=params.pop("name"),
        namespace=params.pop("namespace"),
        image=params.pop("image"),
        replicas=params.pop("replicas"),
        min_workers=params.pop("min_workers"),
        max_workers=params.pop("max_workers"),
        head_cpu=params.pop("head_cpu"),
        head_memory=params.pop("head_memory"),
        worker_cpu=params.pop("worker_cpu"),
        worker_memory=params.pop("worker_memory"),
        gateway=params.pop("gateway"),
        database_secret=params.pop("database_secret"),
        cluster=params.pop("cluster"),
        ingress_host=params.pop("ingress_host"),
        ingress_class=params.pop("ingress_class"),
    )
    try:
        settings.check()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return settings


def _with_settings(func: Callable[..., None]) -> Callable[..., None]:
    """Turn the settings options into one ``settings`` argument."""

    @functools.wraps(func)
    def wrapper(**params: Any) -> None:
        settings = _build_settings(params)
        func(settings=settings, **params)

    return wrapper


def _cluster_options(func: F) -> F:
    func = click.option("--context", metavar="NAME", help="kubeconfig context to use.")(
        func
    )
    func = click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False),
        help="kubeconfig file. Default: $KUBECONFIG, then ~/.kube/config.",
    )(func)
    return func


def _fail(message: str, status: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


def _connect(
    settings: KubeSettings, kubeconfig: str | None, context: str | None
) -> Any:
    from walle_ray.kube.client import KubeError, KubeRayClient, load_api_client

    try:
        api_client = load_api_client(kubeconfig, context)
    except KubeError as exc:
        _fail(str(exc))
    return KubeRayClient(api_client, settings.namespace)


@click.group()
def kube() -> None:
    """Run Walle on Kubernetes with the KubeRay operator."""


@kube.command()
@_settings_options
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False),
    default="kuberay",
    show_default=True,
    help="Folder to write the YAML files to.",
)
@_with_settings
def render(settings: KubeSettings, output: str) -> None:
    """Write the manifests (RayService, RayJobs, database, Ingress) as YAML."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    files = render_manifests(settings)
    for file_name, manifests in files.items():
        (folder / file_name).write_text(manifest_text(manifests), encoding="utf-8")
        click.echo(f"wrote {folder / file_name}")
    stale = folder / "postgres.yaml"
    # Only a file this command wrote is removed, never a hand-written one.
    if (
        "postgres.yaml" not in files
        and stale.is_file()
        and stale.read_text(encoding="utf-8").startswith(HEADER)
    ):
        stale.unlink()
        click.echo(f"removed {stale}: --database-secret replaces it")


@kube.command()
@_settings_options
@_cluster_options
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_READY_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the RayService to be ready.",
)
@click.option("--no-wait", is_flag=True, help="Return without waiting for readiness.")
@_with_settings
def apply(
    settings: KubeSettings,
    kubeconfig: str | None,
    context: str | None,
    timeout: float,
    no_wait: bool,
) -> None:
    """Create or update the database, RayService and Ingress, then wait."""
    from walle_ray.kube.client import KubeError, ServiceState

    kube_client = _connect(settings, kubeconfig, context)
    last: list[str] = []

    def report(state: ServiceState) -> None:
        line = f"RayService {state.name}: {state.service_status or 'pending'}"
        if state.message:
            line += f" ({state.message})"
        if not last or last[-1] != line:
            click.echo(line, err=True)
            last.append(line)

    try:
        for kind, name, action in kube_client.apply(settings):
            click.echo(f"{kind} {name}: {action}")
        if no_wait:
            return
        state = kube_client.wait_ready(settings.service_name, timeout, report)
    except KubeError as exc:
        _fail(str(exc))
    click.echo(
        f"RayService {state.name} is ready on RayCluster {state.cluster}; "
        f"Serve answers at http://{settings.service_name}-serve-svc."
        f"{settings.namespace}.svc:8000"
    )


@kube.command()
@_settings_options
@_cluster_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_with_settings
def status(
    settings: KubeSettings,
    kubeconfig: str | None,
    context: str | None,
    as_json: bool,
) -> None:
    """Show the RayService, its Serve applications and the RayJobs."""
    from walle_ray.kube.client import KubeError

    kube_client = _connect(settings, kubeconfig, context)
    try:
        state = kube_client.status(settings)
    except KubeError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(state.to_dict(), indent=2))
    elif not state.exists:
        click.echo(f"RayService {state.name}: not found in {settings.namespace}")
    else:
        ready = "ready" if state.ready else "not ready"
        click.echo(f"RayService {state.name}: {ready} ({state.service_status})")
        click.echo(f"  RayCluster: {state.cluster or '-'}")
        click.echo(f"  Serve endpoints: {state.serve_endpoints or 0}")
        for app, app_status in state.applications.items():
            click.echo(f"  application {app}: {app_status}")
        if state.message:
            click.echo(f"  message: {state.message}")
    if not as_json:
        for job, job_status in state.jobs.items():
            click.echo(f"RayJob {job}: {job_status}")
    sys.exit(0 if state.ready else EXIT_FAILED)


@kube.command()
@_settings_options
@_cluster_options
@click.option(
    "--database",
    is_flag=True,
    help="Also delete the PostgreSQL StatefulSet, Service and Secret. Its "
    "volume claim stays, so stored executions survive.",
)
@_with_settings
def delete(
    settings: KubeSettings,
    kubeconfig: str | None,
    context: str | None,
    database: bool,
) -> None:
    """Delete the RayService, RayJobs and Ingress (the database stays)."""
    from walle_ray.kube.client import KubeError

    kube_client = _connect(settings, kubeconfig, context)
    try:
        deleted = kube_client.delete(settings, database=database)
    except KubeError as exc:
        _fail(str(exc))
    for kind, name in deleted:
        click.echo(f"{kind} {name}: deleted")
    if not deleted:
        click.echo(f"nothing to delete in namespace {settings.namespace}")


@kube.command()
@_settings_options
@_cluster_options
@click.option(
    "--on-service",
    is_flag=True,
    help="Run on the RayService's current RayCluster instead of a new one.",
)
@click.option(
    "--args",
    "bench_args",
    default="--quick",
    show_default=True,
    help="Arguments for 'python -m benchmarks'.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_BENCH_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the benchmark RayJob to finish.",
)
@click.option(
    "--results",
    "results_dir",
    type=click.Path(file_okay=False),
    default="benchmarks/results",
    show_default=True,
    help="Folder to write the result files to, in a subfolder per job.",
)
@_with_settings
def bench(
    settings: KubeSettings,
    kubeconfig: str | None,
    context: str | None,
    on_service: bool,
    bench_args: str,
    timeout: float,
    results_dir: str,
) -> None:
    """Run the benchmarks as a RayJob, wait, and fetch their results."""
    from dataclasses import replace

    from walle_ray.kube.benchjob import ResultFormatError, extract_results
    from walle_ray.kube.client import KubeError

    kube_client = _connect(settings, kubeconfig, context)
    job_name = f"{settings.bench_job_name}-{time.strftime('%Y%m%d%H%M%S')}"
    try:
        check_name("RayJob name", job_name, 47)
    except ValueError as exc:
        raise click.UsageError(f"{exc} (the --name is too long)") from None
    try:
        arguments = shlex.split(bench_args)
    except ValueError as exc:
        raise click.UsageError(f"invalid --args {bench_args!r}: {exc}") from None
    entrypoint = shlex.join([*shlex.split(BENCH_COMMAND), *arguments])
    try:
        kube_client.check_operator()
        if on_service:
            state = kube_client.status(settings)
            if not state.cluster:
                _fail(
                    f"RayService {settings.service_name} has no active RayCluster; "
                    "run 'walle kube apply' first or drop --on-service"
                )
            settings = replace(settings, cluster=state.cluster)
        settings = replace(settings, bench_entrypoint=entrypoint)
        kube_client.apply_custom(bench_job(settings, job_name))
        click.echo(f"RayJob {job_name}: submitted", err=True)
        final = kube_client.wait_job(job_name, timeout)
        logs = kube_client.submitter_logs(job_name)
    except KubeError as exc:
        _fail(str(exc))
    try:
        results = extract_results(logs)
    except ResultFormatError as exc:
        _fail(f"cannot read the results from the log of RayJob {job_name}: {exc}")
    target = Path(results_dir) / job_name
    for name, data in results.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        click.echo(f"wrote {path}")
    deployment = final.get("jobDeploymentStatus")
    job_status = final.get("jobStatus")
    click.echo(f"RayJob {job_name}: {deployment} ({job_status})")
    if job_status != "SUCCEEDED":
        _fail(
            f"the benchmarks did not succeed: see 'kubectl logs -l job-name="
            f"{job_name} -n {settings.namespace}'"
        )
