"""The workflow service's operations, behind the HTTP layer.

``WorkflowService`` reads and writes workflows in the store directly and
asks the orchestrator actor to start, cancel and wait for executions. Every
failure is a ``ServiceError`` whose ``status`` is the HTTP code to return.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import ray

from walle_ray.errors import SpecError
from walle_ray.outputs import is_truncated
from walle_ray.results import ExecutionStatus
from walle_ray.service.config import ServiceConfig
from walle_ray.service.convert import parse_stored_spec
from walle_ray.service.errors import (
    ConflictError,
    NotFoundError,
    UnavailableError,
    UnprocessableError,
    spec_error,
)
from walle_ray.service.events import EXECUTION_FINISHED, SNAPSHOT, format_sse
from walle_ray.service.orchestrator import get_orchestrator
from walle_ray.spec import Workflow, load_workflow
from walle_ray.store import ExecutionRecord, Store, WorkflowRecord, open_store
from walle_ray.store.payloads import cap_json
from walle_ray.store.runner import runner_of

logger = logging.getLogger(__name__)

T = TypeVar("T")

EVENT_POLL_S = 15.0
STORE_POLL_S = 1.0
CANCEL_WAIT_S = 10.0
FINAL_STATUSES = frozenset(s.value for s in ExecutionStatus if s.is_final)
STATUSES = tuple(s.value for s in ExecutionStatus)
MAX_PAGE_SIZE = 500


def trigger_path(workflow: str, trigger: str) -> str:
    return f"/api/triggers/{workflow}/{trigger}"


def execution_path(execution_id: str) -> str:
    return f"/api/executions/{execution_id}"


@dataclass(frozen=True, slots=True)
class Started:
    """An execution a request started, or found by its idempotency key."""

    execution: dict[str, Any]
    created: bool

    @property
    def execution_id(self) -> str:
        value: str = self.execution["execution_id"]
        return value


def same_json(first: Any, second: Any) -> bool:
    """Return whether two decoded JSON values are equal as JSON.

    Unlike ``==`` in Python, ``true`` differs from ``1`` and ``false`` from
    ``0``. Numbers compare by value, so ``1`` equals ``1.0``.
    """
    if isinstance(first, bool) or isinstance(second, bool):
        return type(first) is type(second) and first == second
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(
            same_json(value, second[key]) for key, value in first.items()
        )
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(
            same_json(a, b) for a, b in zip(first, second, strict=True)
        )
    if isinstance(first, dict | list) or isinstance(second, dict | list):
        return False
    return bool(first == second)


def check_same_request(execution: dict[str, Any], *, mode: str, input: Any) -> None:
    """Raise 422 when a reused idempotency key comes with another input or mode.

    ``execution`` is the one the key's first request created. A client that
    sends the key again with another body means another request, and
    returning the first execution would drop that request silently.
    """
    stored_input = execution["input"]
    if is_truncated(stored_input):
        # The store kept a marker in place of a large input: compare the
        # marker that this input gets.
        # NOTE: a marker contains the size and the first bytes of the JSON
        # only, so a change past those bytes that keeps the size goes
        # unnoticed.
        input = cap_json(input, max_bytes=0)
    changed = []
    if not same_json(stored_input, input):
        changed.append("input")
    if execution["mode"] != mode:
        changed.append("mode")
    if not changed:
        return
    key = execution["idempotency_key"]
    execution_id = execution["execution_id"]
    logger.info(
        "idempotency key of execution %s reused with a different %s",
        execution_id,
        " and ".join(changed),
    )
    raise UnprocessableError(
        f"Idempotency-Key {key!r} was already used for execution {execution_id} "
        f"of workflow '{execution['workflow']}' with a different "
        f"{' and '.join(changed)}. Send a new key for a new request, or repeat "
        "the first request's body and mode to get that execution.",
        field="Idempotency-Key",
        execution_id=execution_id,
    )


class WorkflowService:
    """Workflow and execution operations for one Serve replica or process.

    The store opens on first use, in the event loop of the caller, which must
    stay the same for the service's life.
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self._store: Store | None = None
        self._store_lock: asyncio.Lock | None = None
        self._orchestrator: Any = None

    async def store(self) -> Store:
        if self._store is None:
            if self._store_lock is None:
                self._store_lock = asyncio.Lock()
            async with self._store_lock:
                if self._store is None:
                    self._store = await open_store(self.config.database_url)
        return self._store

    def orchestrator(self) -> Any:
        if self._orchestrator is None:
            self._orchestrator = get_orchestrator(self.config)
        return self._orchestrator

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def _call(self, call: Awaitable[T]) -> T:
        """Await an orchestrator call, turning actor failures into 503."""
        try:
            return await call
        except ray.exceptions.RayActorError as exc:
            logger.warning("orchestrator unavailable: %s", exc)
            raise UnavailableError(
                "the orchestrator is unavailable, probably restarting; "
                "retry in a few seconds"
            ) from None

    async def ping(self) -> dict[str, Any]:
        """Wait until the orchestrator is up; return its description."""
        info: dict[str, Any] = await self._call(self.orchestrator().ready.remote())
        return info

    # -- workflows -----------------------------------------------------------

    async def save_workflow(
        self, text: str, expected_name: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Validate and store a spec; return the workflow and whether it is new.

        With ``expected_name`` (from the URL) the spec's name must match.
        """
        workflow = parse_spec(text)
        if expected_name is not None and workflow.name != expected_name:
            raise UnprocessableError(
                f"the spec names workflow '{workflow.name}' but the URL names "
                f"'{expected_name}': make them equal",
                issues=[
                    {
                        "message": f"name must be '{expected_name}' as in the URL",
                        "workflow": workflow.name,
                        "task": None,
                        "field": "name",
                        "line": None,
                    }
                ],
            )
        store = await self.store()
        previous = await store.get_workflow(workflow.name)
        record = await store.save_workflow(workflow.name, text)
        logger.info("workflow %s saved as version %d", record.name, record.version)
        return describe_workflow(record, workflow), previous is None

    async def list_workflows(self) -> list[dict[str, Any]]:
        store = await self.store()
        return [record.to_dict() for record in await store.list_workflows()]

    async def _workflow(self, name: str) -> tuple[WorkflowRecord, Workflow]:
        store = await self.store()
        record = await store.get_workflow(name)
        if record is None:
            raise NotFoundError(
                f"workflow '{name}' not found; create it with PUT "
                f"/api/workflows/{name}",
                workflow=name,
            )
        return record, parse_stored_spec(record.spec_yaml)

    async def get_workflow(self, name: str) -> dict[str, Any]:
        record, workflow = await self._workflow(name)
        return describe_workflow(record, workflow)

    async def delete_workflow(self, name: str) -> None:
        store = await self.store()
        if not await store.delete_workflow(name):
            raise NotFoundError(f"workflow '{name}' not found", workflow=name)
        logger.info("workflow %s deleted", name)

    async def workflow_versions(self, name: str) -> list[dict[str, Any]]:
        store = await self.store()
        versions = await store.workflow_versions(name)
        if not versions:
            raise NotFoundError(f"workflow '{name}' not found", workflow=name)
        return [{**v.to_dict(), "spec": v.spec_yaml} for v in versions]

    # -- executions ----------------------------------------------------------

    async def start_execution(
        self,
        name: str,
        *,
        mode: str,
        input: Any,
        idempotency_key: str | None = None,
    ) -> Started:
        record, _ = await self._workflow(name)
        reply = await self._start(
            record, mode=mode, input=input, idempotency_key=idempotency_key
        )
        return Started(reply["execution"], reply["created"])

    async def _start(
        self,
        record: WorkflowRecord,
        *,
        mode: str,
        input: Any,
        idempotency_key: str | None,
        wait_s: float | None = None,
    ) -> dict[str, Any]:
        reply: dict[str, Any] = await self._call(
            self.orchestrator().start.remote(
                workflow=record.name,
                version=record.version,
                spec_yaml=record.spec_yaml,
                mode=mode,
                input=input,
                idempotency_key=idempotency_key,
                wait_s=wait_s,
            )
        )
        if not reply["created"]:
            check_same_request(reply["execution"], mode=mode, input=input)
            if wait_s is not None and "ended" not in reply:
                execution_id = reply["execution"]["execution_id"]
                reply["ended"] = await self._call(
                    self.orchestrator().wait.remote(execution_id, wait_s)
                )
        return reply

    async def _execution(self, execution_id: str) -> ExecutionRecord:
        store = await self.store()
        record = await store.get_execution(execution_id)
        if record is None:
            raise NotFoundError(
                f"execution '{execution_id}' not found", execution_id=execution_id
            )
        return record

    async def get_execution(self, execution_id: str) -> dict[str, Any]:
        record = await self._execution(execution_id)
        return record.to_dict(include_attempts=True)

    async def list_executions(
        self,
        name: str,
        *,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        store = await self.store()
        if not await store.workflow_versions(name):
            raise NotFoundError(f"workflow '{name}' not found", workflow=name)
        if status is not None and status not in STATUSES:
            raise UnprocessableError(
                f"invalid status {status!r}: use one of {', '.join(STATUSES)}",
                field="status",
            )
        page = await store.list_executions(name, status, limit=limit, offset=offset)
        return {
            "items": [item.to_dict() for item in page.items],
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
            "has_more": page.has_more,
        }

    async def cancel_execution(self, execution_id: str) -> tuple[dict[str, Any], bool]:
        """Cancel a running execution; return it and whether it has ended.

        Waits up to ``CANCEL_WAIT_S`` for the execution to stop.
        """
        record = await self._execution(execution_id)
        if record.status in FINAL_STATUSES:
            raise ConflictError(
                f"execution '{execution_id}' already ended with status "
                f"{record.status}; only running executions can be cancelled",
                status=record.status,
            )
        orchestrator = self.orchestrator()
        outcome = await self._call(orchestrator.cancel.remote(execution_id))
        if outcome != "cancelling":
            runner = runner_of(record)
            if runner is not None:
                raise ConflictError(
                    f"execution '{execution_id}' is run by {runner.get('kind')} "
                    f"(pid {runner['pid']} on {runner.get('host')}), not by this "
                    "service; stop that process with Ctrl-C or SIGTERM to "
                    "cancel it",
                    status=record.status,
                )
            raise ConflictError(
                f"execution '{execution_id}' is {record.status} but not run by "
                "this service's orchestrator (it may be resuming after a restart, "
                "or run as a Ray job); retry in a few seconds",
                status=record.status,
            )
        ended = await self._call(orchestrator.wait.remote(execution_id, CANCEL_WAIT_S))
        return (await self._execution(execution_id)).to_dict(), ended

    async def retry_execution(self, execution_id: str) -> Started:
        """Start a new execution that reruns what did not succeed in the given one.

        The new execution uses the same workflow version, mode and input.
        Tasks that succeeded are copied with their outputs and not called
        again; every other task runs again.
        """
        record = await self._execution(execution_id)
        if record.status not in FINAL_STATUSES:
            raise ConflictError(
                f"execution '{execution_id}' is still {record.status}; wait for "
                "it to end or cancel it before retrying",
                status=record.status,
            )
        if record.status == ExecutionStatus.SUCCESS.value:
            raise ConflictError(
                f"execution '{execution_id}' succeeded; there is nothing to retry",
                status=record.status,
            )
        store = await self.store()
        version = (
            await store.get_workflow_version(record.workflow, record.version)
            if record.version is not None
            else None
        )
        if record.version is None:
            raise ConflictError(
                f"cannot retry execution '{execution_id}': it was recorded by "
                "walle run, which stores no workflow version; run the workflow "
                "again with walle run, or store it with PUT "
                f"/api/workflows/{record.workflow} and start it here"
            )
        if version is None:
            raise ConflictError(
                f"cannot retry execution '{execution_id}': version "
                f"{record.version} of workflow '{record.workflow}' is not stored"
            )
        reply = await self._call(
            self.orchestrator().start.remote(
                workflow=record.workflow,
                version=version.version,
                spec_yaml=version.spec_yaml,
                mode=record.mode,
                input=record.input,
                retry_of=execution_id,
            )
        )
        logger.info(
            "execution %s retried as %s",
            execution_id,
            reply["execution"]["execution_id"],
        )
        return Started(reply["execution"], reply["created"])

    # -- triggers ------------------------------------------------------------

    async def fire_trigger(
        self,
        workflow: str,
        trigger: str,
        *,
        input: Any,
        mode: str,
        idempotency_key: str | None = None,
    ) -> tuple[Started, bool | None]:
        """Start an execution through an HTTP trigger.

        Returns the execution and, for a trigger without ``async: true``,
        whether it ended within the configured wait (the execution record is
        then re-read). For an ``async`` trigger the second item is None.
        """
        record, spec = await self._workflow(workflow)
        found = next(
            (t for t in spec.triggers if t.name == trigger and t.type == "http"),
            None,
        )
        if found is None:
            names = ", ".join(t.name for t in spec.triggers) or "none"
            raise NotFoundError(
                f"workflow '{workflow}' has no http trigger '{trigger}' "
                f"(its triggers: {names})",
                workflow=workflow,
                trigger=trigger,
            )
        # A synchronous trigger starts and waits in one orchestrator call.
        reply = await self._start(
            record,
            mode=mode,
            input=input,
            idempotency_key=idempotency_key,
            wait_s=None if found.async_ else self.config.sync_trigger_wait_s,
        )
        started = Started(reply["execution"], reply["created"])
        if found.async_:
            return started, None
        execution = await self._execution(started.execution_id)
        return Started(execution.to_dict(), started.created), bool(reply["ended"])

    # -- events --------------------------------------------------------------

    async def event_stream(
        self, execution_id: str, last_event_id: int | None = None
    ) -> AsyncIterator[str]:
        """Return the execution's server-sent events, ending when it ends.

        Without ``last_event_id`` the stream starts with a ``snapshot`` event
        of the stored execution; with it, the stream replays the events after
        that id, when the orchestrator still keeps them. Raises
        ``NotFoundError`` before streaming for an unknown execution.
        """
        await self._execution(execution_id)
        return self._events(execution_id, last_event_id)

    async def _events(
        self, execution_id: str, last_event_id: int | None
    ) -> AsyncIterator[str]:
        after = last_event_id
        snapshot = after is None
        while True:
            if snapshot:
                snapshot = False
                after = await self._last_event(execution_id)
                record = await self._execution(execution_id)
                yield format_sse(SNAPSHOT, record.to_dict(), after)
                if record.status in FINAL_STATUSES:
                    yield format_sse(EXECUTION_FINISHED, _finished_data(record))
                    return
            reply = None
            if after is not None:
                try:
                    reply = await self.orchestrator().events.remote(
                        execution_id, after, EVENT_POLL_S
                    )
                except ray.exceptions.RayActorError:
                    reply = None
            if reply is None or not reply["known"]:
                # The orchestrator keeps no events of this execution: it is
                # restarting, or the execution runs elsewhere. Follow the
                # stored status until it ends or the orchestrator has events
                # of it again, then start over from a snapshot.
                waited = 0.0
                while True:
                    record = await self._execution(execution_id)
                    if record.status in FINAL_STATUSES:
                        yield format_sse(EXECUTION_FINISHED, _finished_data(record))
                        return
                    await asyncio.sleep(STORE_POLL_S)
                    if await self._last_event(execution_id) is not None:
                        break
                    waited += STORE_POLL_S
                    if waited >= EVENT_POLL_S:
                        waited = 0.0
                        yield ": keep-alive\n\n"
                snapshot = True
                continue
            if reply.get("reset"):
                # The client's id is not from the orchestrator's current log.
                snapshot = True
                continue
            for event in reply["events"]:
                yield format_sse(event["type"], event["data"], event["seq"])
                after = event["seq"]
            if reply["closed"]:
                return
            if not reply["events"]:
                yield ": keep-alive\n\n"

    async def _last_event(self, execution_id: str) -> int | None:
        """Return the orchestrator's newest event id of the execution, or None."""
        try:
            seq: int | None = await self.orchestrator().last_event.remote(execution_id)
        except ray.exceptions.RayActorError:
            return None
        return seq


def parse_spec(text: str) -> Workflow:
    """Validate one workflow spec; raise a 422 ``ServiceError`` listing issues."""
    try:
        return load_workflow(text)
    except SpecError as exc:
        raise spec_error(exc) from None


def describe_graph(workflow: Workflow) -> dict[str, Any]:
    """Return a workflow's tasks with their dependencies and the DAG's levels."""
    return {
        "dag": [
            {"name": task.name, "depends": list(task.depends)}
            for task in workflow.tasks
        ],
        "levels": workflow.dag().levels(),
    }


def validate_spec(text: str) -> dict[str, Any]:
    """Validate a spec without storing it; raise a 422 ``ServiceError`` if invalid."""
    workflow = parse_spec(text)
    graph = describe_graph(workflow)
    return {
        "valid": True,
        "name": workflow.name,
        "tasks": graph["dag"],
        "levels": graph["levels"],
    }


def describe_workflow(record: WorkflowRecord, workflow: Workflow) -> dict[str, Any]:
    """Return a workflow as the API shows it: record, spec, tasks and triggers."""
    return {
        **record.to_dict(),
        **describe_graph(workflow),
        "description": workflow.description,
        "spec": record.spec_yaml,
        "tasks": [task.name for task in workflow.tasks],
        "triggers": [
            {
                "name": trigger.name,
                "type": trigger.type,
                "async": trigger.async_,
                "url": trigger_path(workflow.name, trigger.name),
            }
            for trigger in workflow.triggers
        ],
    }


def _finished_data(record: ExecutionRecord) -> dict[str, Any]:
    data = record.to_dict()
    return {
        "execution_id": record.execution_id,
        "status": record.status,
        "at": data["ended_at"],
        "error": record.error,
    }
