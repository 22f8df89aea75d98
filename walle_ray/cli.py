"""The ``walle`` command line.

Exit status: 0 when the command (or the execution) succeeded, 1 when an
execution failed or the engine hit an error, 2 on an invalid spec or wrong
usage, and 130 when ``walle run`` was interrupted with Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.live import Live

from walle_ray.cli_store import record_options, start_recording
from walle_ray.control import ExecutionControl
from walle_ray.errors import ExecutionError, SpecError
from walle_ray.modes import DEFAULT_MODE, MODES
from walle_ray.outputs import cap_output
from walle_ray.spec import Workflow, load_workflow_file

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

logger = logging.getLogger(__name__)


class UsageError(click.UsageError):
    """Wrong usage or invalid input: exit status 2 with the message."""


# Bytes of JSON output shown after the summary; --json prints all of it.
OUTPUT_PREVIEW_BYTES = 2048


def _fail_usage(message: str) -> NoReturn:
    raise UsageError(message)


def _load(path: str, workflow_name: str | None) -> Workflow:
    try:
        workflows = load_workflow_file(path)
    except SpecError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)
    if workflow_name is not None:
        for workflow in workflows:
            if workflow.name == workflow_name:
                return workflow
        names = ", ".join(w.name for w in workflows)
        _fail_usage(f"{path} has no workflow named {workflow_name!r}; it has: {names}")
    if len(workflows) > 1:
        names = ", ".join(w.name for w in workflows)
        _fail_usage(
            f"{path} contains {len(workflows)} workflows ({names}): "
            "choose one with --workflow NAME"
        )
    return workflows[0]


def _parse_input(value: str | None, option: str = "--input") -> Any:
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            _fail_usage(f"cannot read {option} file {value[1:]!r}: {exc.strerror}")
    try:
        return json.loads(text)
    except ValueError as exc:
        _fail_usage(f"invalid {option} {value!r}: not JSON ({exc})")


def _parse_durations(value: str) -> dict[str, float]:
    """Read ``name=duration,...`` or a JSON object of task name to seconds."""
    from walle_ray.durations import parse_duration

    if value.lstrip().startswith(("{", "@")):
        parsed = _parse_input(value, "--durations")
        if not isinstance(parsed, dict):
            _fail_usage("invalid --durations: give a JSON object of task to seconds")
        pairs = list(parsed.items())
    else:
        pairs = []
        for entry in filter(None, (part.strip() for part in value.split(","))):
            name, sep, duration = entry.partition("=")
            if not sep:
                _fail_usage(
                    f"invalid --durations entry {entry!r}: write TASK=DURATION, "
                    "e.g. task-1=50ms"
                )
            pairs.append((name.strip(), duration.strip()))
    weights: dict[str, float] = {}
    for name, duration in pairs:
        try:
            weights[name] = parse_duration(duration)
        except ValueError as exc:
            _fail_usage(f"invalid --durations for task {name!r}: {exc}")
    return weights


def _needs_gateway(workflow: Workflow) -> bool:
    return any(task.function is not None for task in workflow.tasks)


@contextlib.contextmanager
def _gateway_for(
    workflow: Workflow, spec_path: str, gateway: str | None, functions: tuple[str, ...]
) -> Iterator[str | None]:
    """Yield the gateway URL, starting a local gateway when none is set."""
    if gateway or not _needs_gateway(workflow):
        yield gateway
        return
    from walle_ray.gateway import LocalGateway

    dirs = [Path(d) for d in functions]
    if not dirs:
        beside = Path(spec_path).resolve().parent / "functions"
        if beside.is_dir():
            dirs.append(beside)
    with LocalGateway(dirs) as local:
        logger.info("started the local function gateway at %s", local.url)
        yield local.url


@contextlib.contextmanager
def _cancel_on_signals(control: ExecutionControl) -> Iterator[None]:
    """Turn the first SIGINT or SIGTERM into a cancellation of the execution.

    The engine then cancels the running HTTP calls and the execution ends
    ``CANCELLED`` and is recorded as such. A second signal stops at once with
    Python's default behaviour. Outside the main thread this does nothing,
    because only the main thread can set signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)
    }

    def cancel(number: int, frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        control.cancel(f"interrupted by {name}")
        click.echo(
            f"\n{name} received: cancelling the running tasks; "
            "send it again to exit at once",
            err=True,
        )
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    for number in previous:
        signal.signal(number, cancel)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _start_ray(abort: Callable[[str], None]) -> None:
    """Start or join Ray, or exit with status 1 and the reason it failed.

    ``ray.init`` raises plain ``Exception`` when the local node does not
    start in time and ``ValueError`` for a malformed address, so any
    exception counts as a failure here.
    """
    from walle_ray.engine import ensure_ray

    try:
        ensure_ray()
    except Exception as exc:
        message = f"Ray failed to start: {type(exc).__name__}: {exc}"
        logger.debug("Ray failed to start", exc_info=True)
        abort(message)
        address = os.environ.get("RAY_ADDRESS")
        if address:
            advice = (
                f"Check RAY_ADDRESS={address!r}: set it to the address of a "
                "running Ray cluster, or unset it to start a local instance."
            )
        else:
            advice = "Check free memory and CPU, then run the command again."
        click.echo(f"error: {message}\n{advice}", err=True)
        sys.exit(EXIT_FAILED)


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="walle-ray")
@click.option("-v", "--verbose", count=True, help="Log more; repeat for debug logs.")
def main(verbose: int) -> None:
    """Walle on Ray: run serverless workflows, YAML DAGs of HTTP functions."""
    _configure_logging(verbose)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--mode",
    type=click.Choice(list(MODES)),
    default=DEFAULT_MODE,
    show_default=True,
    help="sync: one task at a time; batch: level by level; full: each task "
    "as soon as its dependencies finish.",
)
@click.option(
    "--input",
    "input_text",
    metavar="JSON",
    help="Execution input as JSON, or @PATH to read it from a file.",
)
@click.option(
    "--gateway",
    metavar="URL",
    envvar="OPENFAAS_GATEWAY",
    help="OpenFaaS gateway for 'function:' tasks [env OPENFAAS_GATEWAY]. "
    "Without it a local gateway is started.",
)
@click.option(
    "--functions",
    multiple=True,
    metavar="DIR",
    type=click.Path(file_okay=False, exists=True),
    help="Function folders for the local gateway (repeatable). Default: "
    "'functions/' beside FILE, if present.",
)
@click.option(
    "--workflow", "workflow_name", help="Workflow to run from a file of several."
)
@click.option(
    "--invokers",
    type=click.IntRange(min=1),
    help="Number of invoker actors. Default: one per CPU, 1 to 4.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@record_options
def run(
    file: str,
    mode: str,
    input_text: str | None,
    gateway: str | None,
    functions: tuple[str, ...],
    workflow_name: str | None,
    invokers: int | None,
    as_json: bool,
    database: str | None,
    no_record: bool,
) -> None:
    """Run the workflow in FILE and wait for it to end."""
    from walle_ray.engine import run_workflow
    from walle_ray.gateway import FunctionLoadError
    from walle_ray.invoker import InvokerPool
    from walle_ray.render import LiveProgress, gantt_chart, summary_table

    workflow = _load(file, workflow_name)
    execution_input = _parse_input(input_text)
    if gateway:
        from walle_ray.spec import check_http_url

        try:
            check_http_url(gateway)
        except ValueError as exc:
            _fail_usage(f"invalid --gateway: {exc}")
    recording = start_recording(
        database, workflow.name, mode, execution_input, enabled=not no_record
    )
    console = Console(stderr=as_json)
    control = ExecutionControl()
    try:
        with _gateway_for(workflow, file, gateway, functions) as gateway_url:
            _start_ray(recording.abort)
            pool = InvokerPool(invokers)
            try:
                pool.wait_ready()
                progress = LiveProgress([t.name for t in workflow.tasks])
                live = (
                    contextlib.nullcontext()
                    if as_json or not console.is_terminal
                    else Live(progress, console=console, refresh_per_second=8)
                )
                with live, _cancel_on_signals(control):
                    result = run_workflow(
                        workflow,
                        mode=mode,
                        input=execution_input,
                        gateway=gateway_url,
                        pool=pool,
                        listener=recording.listener(progress),
                        execution_id=recording.execution_id,
                        control=control,
                    )
            finally:
                pool.shutdown()
    except (ExecutionError, FunctionLoadError) as exc:
        recording.abort(str(exc))
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    recording.finish(result)
    if as_json:
        data = result.to_dict(include_attempts=True)
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        console.print(summary_table(result))
        console.print(gantt_chart(result))
        style = "green" if result.status.value == "SUCCESS" else "bold red"
        console.print(
            f"execution {result.execution_id}: [{style}]{result.status.value}"
            f"[/{style}] in {result.duration_s:.3f}s"
        )
        if result.error:
            console.print(f"[red]{result.error}[/red]", markup=True, highlight=False)
        if result.output is not None:
            text = json.dumps(cap_output(result.output, OUTPUT_PREVIEW_BYTES))
            console.print("output:", text, markup=False, highlight=False)
    if control.cancelled:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(0 if result.status.value == "SUCCESS" else EXIT_FAILED)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check workflow specs without running them."""
    failed = False
    for path in files:
        try:
            workflows = load_workflow_file(path)
        except SpecError as exc:
            click.echo(str(exc), err=True)
            failed = True
            continue
        for workflow in workflows:
            levels = len(workflow.dag().levels())
            click.echo(
                f"{path}: workflow '{workflow.name}' is valid "
                f"({len(workflow.tasks)} tasks, {levels} levels)"
            )
    sys.exit(EXIT_USAGE if failed else 0)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--workflow", "workflow_name", help="Workflow to show from a file of several."
)
@click.option(
    "--durations",
    metavar="DURATIONS",
    help="Task durations for the critical path: TASK=DURATION pairs such as "
    "'task-1=50ms,task-2=2s', or a JSON object of task to seconds. "
    "Default: every task counts 1.",
)
def graph(file: str, workflow_name: str | None, durations: str | None) -> None:
    """Print a workflow's DAG: its levels and critical path."""
    from walle_ray.render import graph_report

    workflow = _load(file, workflow_name)
    dag = workflow.dag()
    weights: dict[str, float] = dict.fromkeys(dag.depends, 1.0)
    unit = "tasks"
    if durations is not None:
        parsed = _parse_durations(durations)
        unknown = sorted(set(parsed) - set(dag.depends))
        if unknown:
            _fail_usage(f"invalid --durations: unknown tasks {', '.join(unknown)}")
        weights.update({k: float(v) for k, v in parsed.items()})
        unit = "s"
    Console().print(graph_report(dag, weights, unit))


@main.command()
@click.option(
    "--functions",
    multiple=True,
    metavar="DIR",
    type=click.Path(file_okay=False, exists=True),
    help="Folder of function folders, each with a handler.py (repeatable).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Loopback address to bind: 127.0.0.1, ::1 or localhost.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="TCP port to bind; 0 picks a free port.",
)
def gateway(functions: tuple[str, ...], host: str, port: int) -> None:
    """Serve functions over an OpenFaaS-compatible HTTP API on loopback."""
    from walle_ray.gateway import FunctionLoadError, check_loopback_host, serve

    try:
        check_loopback_host(host)
    except ValueError as exc:
        _fail_usage(str(exc))

    def report_ready(url: str) -> None:
        click.echo(f"function gateway listening on {url}", err=True)

    dirs = [Path(d) for d in functions]
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(dirs, host=host, port=port, on_ready=report_ready))
    except FunctionLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        click.echo(
            f"error: cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another --port",
            err=True,
        )
        sys.exit(EXIT_FAILED)


from walle_ray.cli_kube import kube  # noqa: E402
from walle_ray.cli_serve import serve, submit  # noqa: E402
from walle_ray.cli_store import executions, show  # noqa: E402

main.add_command(kube)
main.add_command(executions)
main.add_command(show)
main.add_command(serve)
main.add_command(submit)

if __name__ == "__main__":
    main()
