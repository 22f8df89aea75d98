"""The ``walle executions`` and ``walle show`` commands, and run recording.

Both commands read the store that ``walle run`` records into: the SQLite file
``$XDG_DATA_HOME/walle/walle.db`` (``~/.local/share/walle/walle.db`` when
XDG_DATA_HOME is unset), or the database that ``--database`` or
``WALLE_DATABASE_URL`` names.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from walle_ray.durations import format_duration

if TYPE_CHECKING:
    from walle_ray.results import ExecutionResult
    from walle_ray.store import ExecutionRecord, Store
    from walle_ray.store.recorder import StoreRecorder, TaskEventListener

# The store package loads SQLAlchemy and Alembic, which take most of a second
# to import, so this module imports it only inside the commands that use it.

logger = logging.getLogger(__name__)

DATABASE_URL_ENV = "WALLE_DATABASE_URL"
"""The same variable as ``walle_ray.store.DATABASE_URL_ENV``; a test checks it."""

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# Ids listed when a prefix given to ``walle show`` matches several.
PREFIX_MATCHES = 4

EXIT_FAILED = 1
EXIT_USAGE = 2

STATUS_STYLES = {
    "WAITING": "dim",
    "RUNNING": "bold cyan",
    "SUCCESS": "green",
    "ERROR": "bold red",
    "ABORT": "yellow",
    "SKIPPED": "dim",
    "CANCELLED": "yellow",
}

database_option = click.option(
    "--database",
    metavar="URL",
    envvar=DATABASE_URL_ENV,
    help="Store database, e.g. sqlite:///path/walle.db or "
    f"postgresql://user@host/db [env {DATABASE_URL_ENV}; default: "
    "$XDG_DATA_HOME/walle/walle.db, else ~/.local/share/walle/walle.db].",
)


def record_options(command: F) -> F:
    """Add ``--database`` and ``--no-record`` to a command that runs workflows."""
    command = click.option(
        "--no-record",
        is_flag=True,
        help="Do not record the execution in the store.",
    )(command)
    return database_option(command)


async def _end_orphaned(store: Store) -> None:
    """Mark ERROR the executions of ``walle run`` processes that were killed.

    Listing goes on when this fails, for example for a user who may only
    read the database.
    """
    from walle_ray.store.runner import end_orphaned

    try:
        await end_orphaned(store)
    except Exception as exc:
        logger.warning(
            "failed to end the executions of killed walle run processes: %s: %s",
            type(exc).__name__,
            exc,
        )


def _run_with_store(database: str | None, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store, run ``work`` on it and close it, mapping errors to exits."""
    from walle_ray.store import StoreError, UnsupportedDatabaseError, open_store

    async def main() -> T:
        store = await open_store(database)
        try:
            await _end_orphaned(store)
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except UnsupportedDatabaseError as exc:
        raise click.UsageError(f"invalid --database: {exc}") from None
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def _timestamp(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    local = datetime.fromtimestamp(epoch, tz=UTC).astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def _one_line(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


@click.command()
@click.argument("workflow", required=False)
@click.option("--status", help="Only executions in this status, e.g. ERROR.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Maximum number of executions to list.",
)
@click.option(
    "--offset",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Number of newest executions to skip.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@database_option
def executions(
    workflow: str | None,
    status: str | None,
    limit: int,
    offset: int,
    as_json: bool,
    database: str | None,
) -> None:
    """List recorded executions, newest first, optionally of WORKFLOW only."""
    page = _run_with_store(
        database,
        lambda store: store.list_executions(
            workflow, status.upper() if status else None, limit=limit, offset=offset
        ),
    )
    if as_json:
        data = {
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
            "executions": [item.to_dict() for item in page.items],
        }
        click.echo(json.dumps(data, indent=2, default=str))
        return

    console = Console()
    if not page.items:
        console.print("no executions found")
        return
    rows: list[dict[str, Any]] = []
    for item in page.items:
        workflow_name = item.workflow
        if item.version is not None:
            workflow_name += f" v{item.version}"
        rows.append(
            {
                "EXECUTION": item.execution_id,
                "WORKFLOW": workflow_name,
                "MODE": item.mode,
                "STATUS": _status(item.status),
                "CREATED": _timestamp(item.created_at),
                "DURATION": _duration(item.duration_s),
                "ERROR": _one_line(item.error),
            }
        )
    columns = _fitting_columns(rows, console.width)
    table = Table(box=None, header_style="bold")
    for column in columns:
        if column == "ERROR":
            table.add_column(column, overflow="ellipsis", no_wrap=True)
        else:
            table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*(row[column] for column in columns))
    console.print(table)
    first = page.offset + 1
    last = page.offset + len(page.items)
    console.print(f"executions {first} to {last} of {page.total}", style="dim")


# The listing's columns in order; the first two always show, and the others
# join in ``LISTING_PRIORITY`` order while they fit the terminal.
LISTING_COLUMNS = ("EXECUTION", "WORKFLOW", "MODE", "STATUS", "CREATED", "DURATION")
LISTING_PRIORITY = ("WORKFLOW", "CREATED", "DURATION", "MODE")
# Narrowest ERROR column worth showing, in characters.
MIN_ERROR_WIDTH = 12


def _fitting_columns(rows: list[dict[str, Any]], width: int) -> list[str]:
    """Pick the listing's columns that fit ``width`` characters whole.

    The execution id and the status always show, so that each row names an
    execution that ``walle show`` accepts. The error takes what is left.
    """

    def needed(column: str) -> int:
        cells = [len(str(row[column])) for row in rows]
        # Each column has one space of padding on either side.
        return max([len(column), *cells]) + 2

    chosen = {"EXECUTION", "STATUS"}
    used = needed("EXECUTION") + needed("STATUS")
    for column in LISTING_PRIORITY:
        if used + needed(column) <= width:
            chosen.add(column)
            used += needed(column)
    columns = [column for column in LISTING_COLUMNS if column in chosen]
    if any(row["ERROR"] for row in rows) and width - used >= MIN_ERROR_WIDTH + 2:
        columns.append("ERROR")
    return columns


@click.command()
@click.argument("execution_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@database_option
def show(execution_id: str, as_json: bool, database: str | None) -> None:
    """Show one recorded execution with its tasks and their attempts.

    EXECUTION_ID may be the start of an id, when no other id starts the same.
    """
    if not execution_id.strip():
        raise click.UsageError(
            "invalid EXECUTION_ID '': give an execution id or its first "
            "characters, as 'walle executions' lists them"
        )
    record, matches = _run_with_store(
        database, lambda store: _find_execution(store, execution_id)
    )
    if record is None and len(matches) > 1:
        listed = ", ".join(matches[: PREFIX_MATCHES - 1])
        more = " and more" if len(matches) >= PREFIX_MATCHES else ""
        raise click.ClickException(
            f"execution id prefix '{execution_id}' matches several executions "
            f"({listed}{more}); give more of the id"
        )
    if record is None:
        from walle_ray.store import default_database_path

        where = database or f"the default store {default_database_path()}"
        raise click.ClickException(
            f"execution '{execution_id}' not found in {where}; "
            "list executions with 'walle executions'"
        )
    if as_json:
        data = record.to_dict(include_attempts=True)
        click.echo(json.dumps(data, indent=2, default=str))
        return
    _print_execution(Console(), record)


async def _find_execution(
    store: Store, execution_id: str
) -> tuple[ExecutionRecord | None, list[str]]:
    """Return the execution with this id, or else the only one it starts.

    The list contains the ids that start with ``execution_id`` when no id
    equals it.
    """
    record = await store.get_execution(execution_id)
    if record is not None:
        return record, [execution_id]
    matches = await store.execution_ids_with_prefix(execution_id, PREFIX_MATCHES)
    if len(matches) == 1:
        return await store.get_execution(matches[0]), matches
    return None, matches


def _print_execution(console: Console, record: ExecutionRecord) -> None:
    version = "" if record.version is None else f" version {record.version}"
    console.print(f"[bold]execution[/bold] {record.execution_id}")
    console.print(f"workflow   {record.workflow}{version}")
    console.print(f"mode       {record.mode}")
    console.print(Text("status     ").append(_status(record.status)))
    console.print(f"created    {_timestamp(record.created_at)}")
    console.print(f"started    {_timestamp(record.started_at)}")
    console.print(f"ended      {_timestamp(record.ended_at)}")
    console.print(f"duration   {_duration(record.duration_s)}")
    if record.idempotency_key:
        console.print(f"key        {record.idempotency_key}")
    if record.error:
        console.print(Text(f"error      {record.error}", style="red"))

    table = Table(box=None, header_style="bold", title_justify="left")
    for column in ("TASK", "STATUS", "ATTEMPTS", "DURATION", "CODES", "ERROR"):
        table.add_column(column)
    for run in record.tasks:
        codes = ", ".join(
            "-" if attempt.status_code is None else str(attempt.status_code)
            for attempt in run.attempts
        )
        items = run.detail.get("items")
        status = _status(run.status)
        if isinstance(items, dict) and "total" in items:
            status.append(
                f" ({items.get('succeeded', '?')}/{items['total']} items)", style="dim"
            )
        table.add_row(
            run.name,
            status,
            str(len(run.attempts)),
            _duration(run.duration_s),
            codes,
            _one_line(run.error),
        )
    console.print()
    if record.tasks:
        console.print(table)
    else:
        console.print("no task has been recorded", style="dim")


class Recording:
    """The recording of one ``walle run``, or nothing when recording is off.

    Build it with :func:`start_recording`. ``execution_id`` is None when
    recording is off, so that the engine picks the id itself.
    """

    def __init__(self, recorder: StoreRecorder | None) -> None:
        self.recorder = recorder
        self.execution_id = None if recorder is None else recorder.execution_id

    def listener(self, forward: TaskEventListener) -> TaskEventListener:
        """Return the listener to pass to the engine; it also calls ``forward``."""
        if self.recorder is None:
            return forward
        self.recorder.forward = forward
        return self.recorder

    def finish(self, result: ExecutionResult) -> None:
        """Write the final result and wait for pending writes (up to 60 s)."""
        if self.recorder is not None:
            self.recorder.finish(result)

    def abort(self, error: str) -> None:
        """Mark the execution ERROR with ``error`` when the run raised instead."""
        if self.recorder is not None:
            self.recorder.abort(error)


def start_recording(
    database: str | None,
    workflow: str,
    mode: str,
    input: Any,
    *,
    enabled: bool = True,
) -> Recording:
    """Open the store and create a RUNNING execution of ``workflow``.

    Exits with status 2 for an invalid database URL and 1 when the database
    cannot be opened, before anything runs. Later store failures are only
    logged.
    """
    from walle_ray.store import StoreError, UnsupportedDatabaseError
    from walle_ray.store.recorder import StoreRecorder
    from walle_ray.store.runner import RUNNER_KEY, cli_runner

    if not enabled:
        return Recording(None)
    recorder = StoreRecorder(
        database,
        workflow=workflow,
        mode=mode,
        input=input,
        detail={RUNNER_KEY: cli_runner()},
    )
    try:
        recorder.start()
    except UnsupportedDatabaseError as exc:
        raise click.UsageError(f"invalid --database: {exc}") from None
    except (StoreError, TimeoutError) as exc:
        raise click.ClickException(
            f"failed to start recording: {exc}; fix --database or pass --no-record"
        ) from None
    return Recording(recorder)
