"""Recording a real execution on Ray through the engine's listener."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from walle_ray.cli_store import start_recording
from walle_ray.engine import run_workflow
from walle_ray.spec import load_workflow
from walle_ray.store import ExecutionRecord, open_store

SPEC = """
name: recorded
tasks:
- {name: first, function: echo, body: {n: 1}}
- {name: broken, function: fail, depends: [first]}
- {name: after, function: echo, depends: [broken]}
"""


def read_execution(url: str, execution_id: str) -> ExecutionRecord | None:
    async def read() -> ExecutionRecord | None:
        store = await open_store(url)
        try:
            return await store.get_execution(execution_id)
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.mark.ray
def test_engine_run_recorded(
    tmp_path: Path, gateway_url: str, invoker_pool: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'walle.db'}"
    workflow = load_workflow(SPEC)
    recording = start_recording(url, workflow.name, "full", {"x": 1})
    result = run_workflow(
        workflow,
        mode="full",
        input={"x": 1},
        gateway=gateway_url,
        pool=invoker_pool,
        listener=recording.listener(_Quiet()),
        execution_id=recording.execution_id,
    )
    recording.finish(result)

    assert recording.execution_id is not None
    record = read_execution(url, recording.execution_id)
    assert record is not None
    assert record.status == result.status.value
    assert record.status == "ERROR"
    assert record.input == {"x": 1}
    statuses = {task.name: task.status for task in record.tasks}
    expected = {name: task.status.value for name, task in result.tasks.items()}
    assert statuses == expected
    first = record.task("first")
    assert first is not None
    assert first.status == "SUCCESS"
    assert [a.status_code for a in first.attempts] == [200]
    broken = record.task("broken")
    assert broken is not None
    assert broken.error
    assert all(a.status_code != 200 for a in broken.attempts)


class _Quiet:
    def task_started(self, name: str, at: float) -> None:
        pass

    def task_finished(self, result: object) -> None:
        pass
