"""``walle serve`` (the HTTP service on Ray Serve) and ``walle submit`` (Ray Jobs)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from walle_ray.errors import SpecError
from walle_ray.modes import MODES
from walle_ray.service.config import ConfigError, ServiceConfig

logger = logging.getLogger(__name__)

EXIT_FAILED = 1
EXIT_USAGE = 2
HEALTH_TIMEOUT_S = 180.0
APP_NAME = "walle"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--database",
    metavar="URL",
    envvar="WALLE_DATABASE_URL",
    help="Database URL, sqlite:///PATH or postgresql://... [env "
    "WALLE_DATABASE_URL]. Default: a SQLite file in the user's data folder.",
)
@click.option(
    "--gateway",
    metavar="URL",
    envvar="OPENFAAS_GATEWAY",
    help="OpenFaaS gateway for 'function:' tasks [env OPENFAAS_GATEWAY]. "
    "Without it the orchestrator starts a local gateway on 127.0.0.1.",
)
@click.option(
    "--functions",
    multiple=True,
    metavar="DIR",
    type=click.Path(file_okay=False, exists=True),
    help="Function folders for the local gateway (repeatable). Default: "
    "examples/functions, if present.",
)
def serve(
    host: str,
    port: int,
    database: str | None,
    gateway: str | None,
    functions: tuple[str, ...],
) -> None:
    """Run the HTTP API on Ray Serve until interrupted.

    Starts a local Ray instance with its dashboard on 127.0.0.1:8265, or joins
    the cluster in RAY_ADDRESS. The API is then at http://HOST:PORT/api and its
    documentation at /docs.
    """
    try:
        config = ServiceConfig.from_env(
            database_url=database,
            gateway_url=gateway,
            functions_dirs=tuple(str(Path(d).resolve()) for d in functions) or None,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None

    import ray
    from ray import serve as ray_serve

    from serve_app.app import build_app
    from walle_ray.engine import check_reachable

    address = os.environ.get("RAY_ADDRESS") or None
    started_ray = not ray.is_initialized() and not address
    if not ray.is_initialized():
        if address is not None:
            try:
                check_reachable(address)
            except ConnectionError as exc:
                raise click.ClickException(
                    f"{exc}. Set RAY_ADDRESS to the address of a running Ray "
                    "cluster, or unset it to start a local instance."
                ) from None
        ray.init(
            address=address,
            namespace=config.namespace,
            include_dashboard=started_ray or None,
            dashboard_host="127.0.0.1",
            logging_level=logging.WARNING,
            configure_logging=False,
        )
    ray_serve.start(http_options={"host": host, "port": port})
    ray_serve.run(build_app(config), name=APP_NAME, route_prefix="/", blocking=False)
    url = f"http://{host}:{port}"
    _wait_healthy(url)
    click.echo(f"Walle API listening on {url} (documentation at {url}/docs)", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    click.echo("stopping the Walle API", err=True)
    if started_ray:
        # Ending this Ray instance ends Serve and the orchestrator with it.
        ray.shutdown()
    else:
        # On a shared cluster the orchestrator actor stays, with its executions.
        ray_serve.delete(APP_NAME)


def _wait_healthy(url: str) -> None:
    import httpx

    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while True:
        try:
            response = httpx.get(f"{url}/api/health", timeout=60)
            if response.status_code == 200:
                return
            detail = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            detail = str(exc)
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"the Walle API at {url} did not become healthy within "
                f"{HEALTH_TIMEOUT_S:g} s ({detail}); read the Serve logs"
            )
        time.sleep(0.5)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--address",
    metavar="URL",
    envvar="RAY_ADDRESS",
    required=True,
    help="Ray dashboard address, such as http://127.0.0.1:8265 [env RAY_ADDRESS].",
)
@click.option("--mode", type=click.Choice(list(MODES)), help="Execution mode.")
@click.option("--input", "input_text", metavar="JSON", help="Execution input as JSON.")
@click.option(
    "--workflow", "workflow_name", help="Workflow to run from a file of several."
)
@click.option(
    "--gateway",
    metavar="URL",
    help="OpenFaaS gateway the job calls. Without it the job starts a local one.",
)
@click.option(
    "--database",
    metavar="URL",
    envvar="WALLE_DATABASE_URL",
    help="Database to record the execution in [env WALLE_DATABASE_URL].",
)
def submit(
    file: str,
    address: str,
    mode: str | None,
    input_text: str | None,
    workflow_name: str | None,
    gateway: str | None,
    database: str | None,
) -> None:
    """Run the workflow in FILE as a Ray Job and record its execution.

    The job runs 'walle run FILE --json' on the cluster, with FILE and a
    functions/ folder beside it shipped as its working folder. Its logs are
    streamed here; the exit status is 0 when the execution succeeded.
    """
    from walle_ray.service.jobs import (
        JobOutputError,
        JobRequest,
        execution_from_logs,
        record_job_execution,
        run_job,
    )
    from walle_ray.spec import load_workflow_file

    path = Path(file)
    try:
        workflows = load_workflow_file(path)
    except SpecError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)
    execution_input: Any = None
    if input_text is not None:
        try:
            execution_input = json.loads(input_text)
        except ValueError as exc:
            raise click.UsageError(f"invalid --input {input_text!r}: {exc}") from None
    request = JobRequest(
        spec_path=path,
        mode=mode,
        input_json=input_text,
        workflow_name=workflow_name,
        gateway=gateway,
    )

    def echo_log(lines: str) -> None:
        click.echo(lines, nl=False, err=True)

    from ray.exceptions import AuthenticationError

    try:
        job_id, job_status, logs = asyncio.run(
            run_job(request, address, on_log=echo_log)
        )
    except AuthenticationError as exc:
        raise click.ClickException(
            f"the Ray job API at {address} rejected the request: {exc}. For a "
            "cluster with token authentication, set RAY_AUTH_MODE=token and the "
            "token in RAY_AUTH_TOKEN or ~/.ray/auth_token"
        ) from None
    except ConnectionError as exc:
        raise click.ClickException(
            f"cannot reach the Ray job API at {address}: {exc}; check --address, "
            "such as http://127.0.0.1:8265"
        ) from None
    try:
        data = execution_from_logs(logs)
    except JobOutputError as exc:
        click.echo(f"error: job {job_id} ended {job_status}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    # A file of several workflows is no single workflow's spec, so only the
    # execution is stored then.
    spec_text = path.read_text(encoding="utf-8") if len(workflows) == 1 else None
    version = asyncio.run(
        record_job_execution(database, spec_text, data, execution_input)
    )
    status = data.get("status")
    click.echo(
        f"job {job_id} ended {job_status}; execution {data['execution_id']} "
        f"of workflow '{data['workflow']}' (version {version}) is {status}",
        err=True,
    )
    sys.exit(0 if status == "SUCCESS" else EXIT_FAILED)
