"""Service logic that needs no Ray: bodies, events, settings and job output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from walle_ray.outputs import is_truncated
from walle_ray.results import ExecutionStatus, TaskStatus
from walle_ray.service import bodies
from walle_ray.service.config import ConfigError, ServiceConfig
from walle_ray.service.convert import succeeded_tasks, task_result_from_record
from walle_ray.service.errors import (
    InvalidRequestError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)
from walle_ray.service.events import EventLog, format_sse
from walle_ray.service.jobs import (
    JobOutputError,
    JobRequest,
    execution_from_logs,
    result_from_dict,
)
from walle_ray.service.service import check_same_request, same_json
from walle_ray.store.payloads import cap_json
from walle_ray.store.records import AttemptRecord, ExecutionRecord, TaskRunRecord


def test_spec_text_reads_yaml_and_json() -> None:
    assert bodies.spec_text(b"name: a", "application/yaml") == "name: a"
    assert bodies.spec_text(b"name: a", "text/plain; charset=utf-8") == "name: a"
    assert bodies.spec_text(b"name: a", None) == "name: a"
    wrapped = json.dumps({"spec": "name: b"}).encode()
    assert bodies.spec_text(wrapped, "application/json") == "name: b"


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"{", "application/json", InvalidRequestError),
        (b'{"spec": 3}', "application/json", UnprocessableError),
        (b"name: a", "application/xml", UnsupportedMediaTypeError),
        (b"\n", "text/plain", UnprocessableError),
        (b"\xc3\x28", "text/plain", InvalidRequestError),
    ],
)
def test_spec_text_rejects(
    body: bytes, content_type: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        bodies.spec_text(body, content_type)


def test_execution_request_defaults_and_checks() -> None:
    empty = bodies.execution_request(b"")
    assert empty.input is None
    assert empty.mode == "full"
    parsed = bodies.execution_request(b'{"input": [1], "mode": "sync"}')
    assert parsed.input == [1]
    assert parsed.mode == "sync"
    with pytest.raises(UnprocessableError, match="invalid mode"):
        bodies.execution_request(b'{"mode": 3}')


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"input": NaN}', "NaN is not a JSON number"),
        (b'{"input": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"input": 1e999}', "number 1e999 is out of range"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
    ids=["nan", "infinity", "overflow", "deep"],
)
def test_parse_json_rejects_non_json(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        bodies.parse_json(body)
    with pytest.raises(InvalidRequestError, match=message):
        bodies.trigger_input(body, "application/json")


def test_parse_json_keeps_large_numbers() -> None:
    assert bodies.parse_json(b"[1.5e300, -2, 123456789012345678901234567890]") == [
        1.5e300,
        -2,
        123456789012345678901234567890,
    ]


def test_check_idempotency_key() -> None:
    assert bodies.check_idempotency_key(None) is None
    assert bodies.check_idempotency_key("k" * 255) == "k" * 255
    with pytest.raises(UnprocessableError, match="it is empty"):
        bodies.check_idempotency_key("")
    with pytest.raises(UnprocessableError, match="it has 256 characters"):
        bodies.check_idempotency_key("k" * 256)


def _first_execution() -> dict[str, object]:
    return {
        "execution_id": "e-1",
        "workflow": "orders",
        "idempotency_key": "order-42",
        "mode": "full",
        "input": {"amount": 10},
    }


def test_reused_key_same_request_passes() -> None:
    check_same_request(_first_execution(), mode="full", input={"amount": 10})


@pytest.mark.parametrize(
    ("mode", "input", "changed"),
    [
        ("full", {"amount": 11}, "a different input."),
        ("batch", {"amount": 10}, "a different mode."),
        ("sync", None, "a different input and mode."),
    ],
    ids=["input", "mode", "both"],
)
def test_reused_key_other_request_is_422(
    mode: str, input: object, changed: str
) -> None:
    with pytest.raises(UnprocessableError) as caught:
        check_same_request(_first_execution(), mode=mode, input=input)
    message = caught.value.message
    assert "'order-42' was already used for execution e-1" in message
    assert changed in message
    assert caught.value.details["execution_id"] == "e-1"


def test_reused_key_large_input_compares_marker() -> None:
    large = {"rows": ["x" * 100] * 2_000}
    first = {**_first_execution(), "input": cap_json(large, max_bytes=64 * 1024)}
    assert is_truncated(first["input"])
    check_same_request(first, mode="full", input=large)
    other = {"rows": ["y" * 100] * 2_000}
    with pytest.raises(UnprocessableError, match="a different input"):
        check_same_request(first, mode="full", input=other)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (1, 1.0, True),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True),
        (True, 1, False),
        (0, False, False),
        ([1], [True], False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [1, 2, 3], False),
        ("1", 1, False),
        ({"a": 1}, [("a", 1)], False),
    ],
)
def test_same_json_cases(first: object, second: object, same: bool) -> None:
    assert same_json(first, second) is same
    assert same_json(second, first) is same


def test_trigger_input_by_content_type() -> None:
    assert bodies.trigger_input(b'{"a": 1}', "application/json") == {"a": 1}
    assert bodies.trigger_input(b'{"a": 1}', "application/cloudevents+json") == {"a": 1}
    assert bodies.trigger_input(b"hello", "text/plain") == "hello"
    assert bodies.trigger_input(b"", None) is None
    with pytest.raises(UnsupportedMediaTypeError):
        bodies.trigger_input(b"x", "application/octet-stream")


def test_event_log_numbers_from_base() -> None:
    async def scenario() -> None:
        log = EventLog(base=1_000)
        assert log.last_seq == 1_000
        await log.append("task_started", {"task": "a"})
        await log.append("task_finished", {"task": "a"})
        assert [e.seq for e in log.after(0)] == [1_001, 1_002]
        assert [e.seq for e in log.after(1_001)] == [1_002]
        assert log.foreign(7)
        assert log.foreign(1_000)
        assert log.foreign(1_003)
        assert not log.foreign(0)
        assert not log.foreign(-5)
        assert not log.foreign(1_001)
        assert not log.foreign(1_002)

    asyncio.run(scenario())


def test_event_log_orders_and_waits() -> None:
    async def scenario() -> None:
        log = EventLog()
        assert await log.wait_after(0, 0.05) == []
        waiter = asyncio.create_task(log.wait_after(0, 10))
        await asyncio.sleep(0)
        await log.append("task_started", {"task": "a"})
        woken = await waiter
        assert [e.seq for e in woken] == [1]
        await log.append("execution_finished", {}, final=True)
        assert log.closed
        assert [e.type for e in log.after(0)] == ["task_started", "execution_finished"]
        # A closed log returns at once, even with nothing new.
        assert await log.wait_after(2, 10) == []
        with pytest.raises(RuntimeError, match="closed"):
            await log.append("late", {})

    asyncio.run(scenario())


def test_format_sse() -> None:
    text = format_sse("task_finished", {"note": "two\nlines"}, 7)
    assert text == 'id: 7\nevent: task_finished\ndata: {"note":"two\\nlines"}\n\n'
    assert format_sse("snapshot", {}).startswith("event: snapshot\n")


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLE_SYNC_TRIGGER_WAIT", "2.5")
    monkeypatch.setenv("WALLE_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("OPENFAAS_GATEWAY", "http://127.0.0.1:8080")
    config = ServiceConfig.from_env()
    assert config.sync_trigger_wait_s == 2.5
    assert config.max_body_bytes == 2048
    assert config.gateway_url == "http://127.0.0.1:8080"
    assert ServiceConfig.from_dict(config.to_dict()) == config
    override = ServiceConfig.from_env(sync_trigger_wait_s=9.0)
    assert override.sync_trigger_wait_s == 9.0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WALLE_MAX_BODY_BYTES", "lots", "WALLE_MAX_BODY_BYTES='lots'"),
        ("WALLE_MAX_BODY_BYTES", "0", "maximum body size"),
        ("WALLE_SYNC_TRIGGER_WAIT", "-1", "sync trigger wait"),
        ("OPENFAAS_GATEWAY", "gateway:8080", "invalid gateway URL"),
    ],
)
def test_config_rejects_invalid_env(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        ServiceConfig.from_env()


def stored_execution() -> ExecutionRecord:
    attempt = AttemptRecord(number=1, started_at=10.0, ended_at=11.0, status_code=200)
    return ExecutionRecord(
        execution_id="e1",
        workflow="w",
        version=1,
        mode="full",
        status="ERROR",
        created_at=9.0,
        tasks=(
            TaskRunRecord(
                "a", "SUCCESS", 10.0, 11.0, output={"x": 1}, attempts=(attempt,)
            ),
            TaskRunRecord("b", "ERROR", 11.0, 12.0, error="HTTP 500"),
            TaskRunRecord("c", "ABORT"),
        ),
    )


def test_succeeded_tasks_are_reused() -> None:
    reused = succeeded_tasks(stored_execution())
    assert list(reused) == ["a"]
    result = reused["a"]
    assert result.status is TaskStatus.SUCCESS
    assert result.output == {"x": 1}
    assert result.attempts[0].status_code == 200
    assert task_result_from_record(stored_execution().tasks[1]).error == "HTTP 500"


def test_job_entrypoint_quotes_input() -> None:
    request = JobRequest(
        spec_path=Path("flow.yaml"), mode="batch", input_json='{"a": "b c"}'
    )
    assert request.entrypoint() == (
        'walle run workflow.yaml --json --mode batch --input \'{"a": "b c"}\''
    )


def test_execution_from_logs_finds_last_object() -> None:
    printed = {
        "execution_id": "e9",
        "workflow": "w",
        "mode": "sync",
        "status": "SUCCESS",
        "started_at": "2026-01-01T00:00:00.000+00:00",
        "ended_at": "2026-01-01T00:00:01.500+00:00",
        "output": {"t": 1},
        "tasks": [
            {
                "name": "t",
                "status": "SUCCESS",
                "started_at": "2026-01-01T00:00:00.100+00:00",
                "ended_at": "2026-01-01T00:00:01.000+00:00",
                "output": 1,
            }
        ],
    }
    logs = (
        "starting\n{not json\n"
        + json.dumps({"other": 1})
        + "\n"
        + json.dumps(printed, indent=2)
        + "\nbye\n"
    )
    data = execution_from_logs(logs)
    assert data["execution_id"] == "e9"
    result = result_from_dict(data)
    assert result.status is ExecutionStatus.SUCCESS
    assert result.duration_s == 1.5
    assert result.tasks["t"].output == 1
    with pytest.raises(JobOutputError):
        execution_from_logs("Traceback ...\nValueError: boom\n")
