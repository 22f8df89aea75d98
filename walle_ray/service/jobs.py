"""Running a workflow as a Ray Job and recording its execution in the store.

``walle submit`` ships the spec (and a ``functions/`` folder beside it, if
any) as the job's working folder, runs ``walle run FILE --json`` as the
entrypoint, streams the job's logs, and stores the execution that the
entrypoint printed once the job ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from walle_ray.results import (
    Attempt,
    ExecutionResult,
    ExecutionStatus,
    TaskResult,
    TaskStatus,
)
from walle_ray.store import open_store

logger = logging.getLogger(__name__)

SPEC_NAME = "workflow.yaml"
FUNCTIONS_DIR = "functions"


class JobOutputError(ValueError):
    """The job's logs hold no execution JSON from ``walle run --json``."""


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job to submit: a spec file and the ``walle run`` options for it."""

    spec_path: Path
    mode: str | None = None
    input_json: str | None = None
    workflow_name: str | None = None
    gateway: str | None = None

    def entrypoint(self) -> str:
        """Return the job's shell command, run inside the shipped folder."""
        words = ["walle", "run", SPEC_NAME, "--json"]
        if self.mode is not None:
            words += ["--mode", self.mode]
        if self.input_json is not None:
            words += ["--input", self.input_json]
        if self.workflow_name is not None:
            words += ["--workflow", self.workflow_name]
        if self.gateway is not None:
            words += ["--gateway", self.gateway]
        return shlex.join(words)


AGENT_WAIT_S = 60.0
"""How long submission waits for the job agent of a cluster that just started."""

NO_AGENT = "No available agent to submit job"


def stage_working_dir(request: JobRequest, into: Path) -> Path:
    """Copy the spec, and ``functions/`` beside it, into a new job folder."""
    folder = into / "walle-job"
    folder.mkdir()
    shutil.copyfile(request.spec_path, folder / SPEC_NAME)
    functions = request.spec_path.resolve().parent / FUNCTIONS_DIR
    if functions.is_dir():
        shutil.copytree(
            functions,
            folder / FUNCTIONS_DIR,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    return folder


async def run_job(
    request: JobRequest,
    address: str,
    *,
    on_log: Callable[[str], None],
) -> tuple[str, str, str]:
    """Submit the job, stream its logs to ``on_log`` and wait for it to end.

    Returns the submission id, the final job status and the full logs.
    """
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    submission_id = f"walle-{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory(prefix="walle-submit-") as tmp:
        folder = stage_working_dir(request, Path(tmp))
        deadline = time.monotonic() + AGENT_WAIT_S
        while True:
            try:
                client.submit_job(
                    entrypoint=request.entrypoint(),
                    submission_id=submission_id,
                    runtime_env={"working_dir": str(folder)},
                    metadata={"walle.spec": request.spec_path.name},
                )
                break
            except RuntimeError as exc:
                # A cluster that has just started returns 500 until its job
                # agent is up.
                if NO_AGENT not in str(exc) or time.monotonic() > deadline:
                    raise
                logger.info("no job agent on %s yet; retrying", address)
                await asyncio.sleep(1.0)
    logger.info("submitted job %s to %s", submission_id, address)
    async for lines in client.tail_job_logs(submission_id):
        on_log(lines)
    status = str(client.get_job_status(submission_id).value)
    logs: str = client.get_job_logs(submission_id)
    logger.info("job %s ended %s", submission_id, status)
    return submission_id, status, logs


def execution_from_logs(logs: str) -> dict[str, Any]:
    """Find the execution object that ``walle run --json`` printed in the logs.

    The object is the last JSON object that starts at the beginning of a
    line and has an ``execution_id``.
    """
    decoder = json.JSONDecoder()
    starts = [i for i in range(len(logs)) if logs[i] == "{" and _line_start(logs, i)]
    for start in reversed(starts):
        try:
            value, _ = decoder.raw_decode(logs, start)
        except ValueError:
            continue
        if isinstance(value, dict) and "execution_id" in value:
            return value
    raise JobOutputError(
        "the job's logs contain no execution JSON from 'walle run --json'; "
        "read the logs above for the error"
    )


def _line_start(text: str, index: int) -> bool:
    return index == 0 or text[index - 1] == "\n"


def result_from_dict(data: dict[str, Any]) -> ExecutionResult:
    """Rebuild an ``ExecutionResult`` from its ``to_dict`` form.

    Attempts are restored only when the dict has ``attempt_details``.
    """
    # NOTE: 'walle run --json' prints no attempt details, so executions run
    # through 'walle submit' are stored without attempts.
    tasks = {}
    for task in data.get("tasks", []):
        attempts = [
            Attempt(
                number=a["number"],
                started_at=_epoch(a["started_at"]) or 0.0,
                ended_at=_epoch(a["ended_at"]) or 0.0,
                status_code=a.get("status_code"),
                error=a.get("error"),
            )
            for a in task.get("attempt_details", [])
        ]
        tasks[task["name"]] = TaskResult(
            name=task["name"],
            status=TaskStatus(task["status"]),
            attempts=attempts,
            started_at=_epoch(task.get("started_at")),
            ended_at=_epoch(task.get("ended_at")),
            output=task.get("output"),
            error=task.get("error"),
        )
    return ExecutionResult(
        execution_id=data["execution_id"],
        workflow=data["workflow"],
        mode=data["mode"],
        status=ExecutionStatus(data["status"]),
        started_at=_epoch(data.get("started_at")) or 0.0,
        ended_at=_epoch(data.get("ended_at")),
        input=data.get("input"),
        tasks=tasks,
        error=data.get("error"),
        output=data.get("output"),
    )


def _epoch(text: str | None) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).timestamp()


async def record_job_execution(
    database_url: str | None,
    spec_text: str | None,
    data: dict[str, Any],
    execution_input: Any,
) -> int | None:
    """Store the job's execution, and the spec as a workflow version if given.

    Returns the workflow version, or None without ``spec_text``. The execution
    is stored only after the job ended, so the orchestrator never takes it for
    an interrupted execution of its own.
    """
    result = result_from_dict(data)
    result.input = execution_input
    store = await open_store(database_url)
    try:
        version = None
        if spec_text is not None:
            workflow = await store.save_workflow(result.workflow, spec_text)
            version = workflow.version
        await store.save_result(result, version=version, output=result.output)
    finally:
        await store.close()
    return version
