"""Spec parsing and validation: accepted forms, defaults and every rejection."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from walle_ray.errors import SpecError
from walle_ray.spec import (
    DEFAULT_TIMEOUT_S,
    RetryPolicy,
    load_workflow,
    load_workflow_file,
    load_workflows,
)

FIXTURES = Path(__file__).parent / "fixtures"
SEED_EXAMPLES = sorted((FIXTURES / "seed").glob("*.yaml"))


def spec_error(text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_workflows(text)
    return caught.value


def only_issue(text: str) -> str:
    error = spec_error(text)
    assert len(error.issues) == 1, error
    return str(error.issues[0])


@pytest.mark.parametrize("path", SEED_EXAMPLES, ids=lambda p: p.stem)
def test_original_examples_load(path: Path) -> None:
    [workflow] = load_workflow_file(path)
    assert workflow.name == path.stem
    assert workflow.tasks


def test_original_example_fields() -> None:
    [workflow] = load_workflow_file(FIXTURES / "seed" / "example-workflow.yaml")
    task = workflow.task("task-1")
    assert task.type == "http"
    assert task.method == "GET"
    assert task.headers == {"Content-Type": "application/json"}
    assert task.body == {"message": "Hello Walle!"}
    assert task.retry.max == 3
    assert task.timeout == 10.0
    assert task.depends == ()
    assert workflow.task("task-3").depends == ("task-1", "task-2")
    trigger = workflow.triggers[0]
    assert (trigger.type, trigger.name, trigger.async_) == (
        "http",
        "http-trigger",
        True,
    )


def test_task_defaults() -> None:
    workflow = load_workflow("name: w\ntasks:\n- {name: a, url: 'http://h/a'}\n")
    task = workflow.tasks[0]
    assert task.method == "POST"
    assert task.headers == {}
    assert task.body is None
    assert task.retry == RetryPolicy()
    assert task.retry.max == 0
    assert task.timeout == DEFAULT_TIMEOUT_S
    assert task.depends == ()


def test_headers_as_mapping() -> None:
    text = "name: w\ntasks:\n- {name: a, url: 'http://h', headers: {X-N: 5}}\n"
    assert load_workflow(text).tasks[0].headers == {"X-N": "5"}


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("500ms", 0.5), ("10s", 10.0), ("2m", 120.0), ("1m30s", 90.0), (3, 3.0)],
)
def test_timeout_forms(value: object, seconds: float) -> None:
    text = f"name: w\ntasks:\n- {{name: a, url: 'http://h', timeout: {value}}}\n"
    assert load_workflow(text).tasks[0].timeout == seconds


def test_full_retry_policy() -> None:
    text = (
        "name: w\ntasks:\n- name: a\n  url: http://h\n  retry: {max: 5, backoff: "
        "fixed, initial: 1s, max_delay: 3s, jitter: false, on: [503, timeout]}\n"
    )
    retry = load_workflow(text).tasks[0].retry
    assert retry.max == 5
    assert retry.backoff == "fixed"
    assert retry.initial == 1.0
    assert retry.max_delay == 3.0
    assert retry.jitter is False
    assert retry.retries_status(503)
    assert not retry.retries_status(500)


def test_function_resolves_against_gateway() -> None:
    text = "name: w\ntasks:\n- {name: a, function: word-count}\n"
    task = load_workflow(text).tasks[0]
    assert task.resolve_url("http://gw:8080/") == "http://gw:8080/function/word-count"


def test_function_without_gateway_is_clear() -> None:
    task = load_workflow("name: w\ntasks:\n- {name: a, function: f}\n").tasks[0]
    with pytest.raises(ValueError, match="OPENFAAS_GATEWAY"):
        task.resolve_url(None)


def test_several_documents() -> None:
    text = (
        "name: one\ntasks: [{name: a, url: 'http://h'}]\n---\n"
        "name: two\ntasks: [{name: a, url: 'http://h'}]\n"
    )
    assert [w.name for w in load_workflows(text)] == ["one", "two"]


def test_unknown_key_names_task_and_suggests() -> None:
    message = only_issue(
        "name: w\ntasks:\n- name: a\n  url: http://h\n- name: b\n  url: http://h\n"
        "  depend: [a]\n"
    )
    assert "workflow 'w'" in message
    assert "task 'b'" in message
    assert "field 'depend'" in message
    assert "Did you mean 'depends'?" in message
    assert "line 7" in message


def test_unknown_top_level_key() -> None:
    message = only_issue("name: w\ntask: []\ntasks: [{name: a, url: 'http://h'}]\n")
    assert "unknown field 'task'" in message


def test_unknown_retry_key() -> None:
    message = only_issue(
        "name: w\ntasks:\n- {name: a, url: 'http://h', retry: {maxx: 2}}\n"
    )
    assert "field 'retry.maxx'" in message


def test_duplicate_task_names() -> None:
    message = only_issue(
        "name: w\ntasks:\n- {name: a, url: 'http://h'}\n- {name: a, url: 'http://h'}\n"
    )
    assert "duplicate task name" in message
    assert "task 'a'" in message


def test_unknown_dependency() -> None:
    message = only_issue(
        "name: w\ntasks:\n- {name: task-1, url: 'http://h'}\n"
        "- {name: b, url: 'http://h', depends: [task-2]}\n"
    )
    assert "unknown task 'task-2'" in message
    assert "Did you mean 'task-1'?" in message


def test_self_dependency() -> None:
    message = only_issue(
        "name: w\ntasks:\n- {name: a, url: 'http://h', depends: [a]}\n"
    )
    assert "cannot depend on itself" in message


def test_cycle_is_printed() -> None:
    message = only_issue(
        "name: w\ntasks:\n"
        "- {name: a, url: 'http://h', depends: [c]}\n"
        "- {name: b, url: 'http://h', depends: [a]}\n"
        "- {name: c, url: 'http://h', depends: [b]}\n"
    )
    assert "a -> b -> c -> a" in message


def test_empty_task_list() -> None:
    assert "task list is empty" in only_issue("name: w\ntasks: []\n")


def test_missing_tasks() -> None:
    message = only_issue("name: w\n")
    assert "field 'tasks'" in message
    assert "missing" in message


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("{name: a}", "needs a 'url' or a 'function'"),
        ("{name: a, url: 'http://h', function: f}", "not both"),
        ("{name: a, url: 'ftp://h'}", "invalid URL 'ftp://h'"),
        ("{name: a, url: 'not a url'}", "invalid URL"),
        ("{name: a, url: 'http://h:99999'}", "invalid URL"),
        ("{name: a, url: 'http://h', method: FETCH}", "invalid HTTP method 'FETCH'"),
        ("{name: a, url: 'http://h', timeout: 5x}", "invalid duration '5x'"),
        ("{name: a, url: 'http://h', timeout: 0}", "greater than 0"),
        ("{name: a, url: 'http://h', retry: -1}", "greater than or equal to 0"),
        ("{name: a, url: 'http://h', retry: true}", "invalid retry"),
        ("{name: a, url: 'http://h', type: lambda}", "'http'"),
        ("{name: 'a b', url: 'http://h'}", "invalid task name 'a b'"),
        ("{name: a, url: 'http://h', depends: b}", "write depends: [b]"),
        ("{name: a, url: 'http://h', retry: {on: [999]}}", "invalid retry condition"),
        ("{name: a, url: 'http://h', headers: [{name: X}]}", "header entry 1"),
    ],
)
def test_invalid_task_fields(task: str, expected: str) -> None:
    message = only_issue(f"name: w\ntasks:\n- {task}\n")
    assert expected in message
    assert "workflow 'w'" in message
    assert "task 'a" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "not a mapping"),
        ("just a string\n", "not a mapping"),
        ("42\n", "document 1 is an int, not a mapping"),
        ("- a\n", "document 1 is a list, not a mapping"),
        ("", "contains no workflow"),
        ("name: w\ntasks: [{name: a, url: 'http://h'}\n", "invalid YAML"),
        ("name: w\nname: v\ntasks: []\n", "duplicate key 'name'"),
    ],
)
def test_invalid_documents(text: str, expected: str) -> None:
    assert expected in str(spec_error(text))


def test_alias_bomb_rejected_before_expanding() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for index in range(1, 10):
        previous, current = chr(ord("a") + index - 1), chr(ord("a") + index)
        lines.append(f"{current}: &{current} [" + ", ".join([f"*{previous}"] * 9) + "]")
    started = time.perf_counter()
    message = str(spec_error("\n".join(lines) + "\n"))
    assert "aliases expand" in message
    assert time.perf_counter() - started < 5


def test_recursive_alias_rejected() -> None:
    assert "recursive YAML alias" in str(spec_error("name: &a [*a]\n"))


def test_harmless_aliases_accepted() -> None:
    text = (
        "name: w\ntasks:\n- name: a\n  url: http://h\n  headers: &h {X-A: '1'}\n"
        "- name: b\n  url: http://h\n  headers: *h\n"
    )
    assert load_workflow(text).tasks[1].headers == {"X-A": "1"}


def test_all_problems_reported_together() -> None:
    error = spec_error(
        "name: w\ntasks:\n- {name: a, url: 'ftp://h'}\n- {name: b, method: FETCH}\n"
    )
    assert [issue.task for issue in error.issues] == ["a", "b"]


def test_ten_thousand_tasks_validate_quickly() -> None:
    lines = ["name: big", "tasks:"]
    for index in range(10_000):
        lines.append(f"- name: t{index}")
        lines.append("  function: echo")
        if index:
            lines.append(f"  depends: [t{index - 1}]")
    text = "\n".join(lines) + "\n"
    started = time.perf_counter()
    [workflow] = load_workflows(text)
    elapsed = time.perf_counter() - started
    assert len(workflow.tasks) == 10_000
    # Typically 0.6 s on a 2-core machine; the bound only catches blow-ups.
    assert elapsed < 5, f"10,000 tasks took {elapsed:.2f}s"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ('{"X Bad": "1"}', "invalid header name 'X Bad'"),
        ('{"X-A:": "1"}', "invalid header name 'X-A:'"),
        ('{X-A: "a\\r\\nInjected: 1"}', "invalid value 'a\\r\\nInjected: 1'"),
        ('[{name: X-A, value: "a\\nb"}]', "line break"),
    ],
)
def test_invalid_headers_rejected(headers: str, expected: str) -> None:
    text = f"name: w\ntasks:\n- name: a\n  url: http://h/a\n  headers: {headers}\n"
    message = str(spec_error(text))
    assert expected in message
    assert "field 'headers'" in message


def test_header_value_keeps_tab_and_template() -> None:
    text = (
        "name: w\ntasks:\n- name: a\n  url: http://h/a\n"
        '  headers: {X-A: "a\\tb", X-B: "{{ input.token }}"}\n'
    )
    headers = load_workflow(text).tasks[0].headers
    assert headers["X-A"] == "a\tb"
    assert headers["X-B"] == "{{ input.token }}"


@pytest.mark.parametrize("retry", ['"3"', "2.5", "true"])
def test_retry_wrong_type_names_value(retry: str) -> None:
    text = f"name: w\ntasks:\n- name: a\n  url: http://h/a\n  retry: {retry}\n"
    message = str(spec_error(text))
    assert "invalid retry" in message
    assert "as in retry: 3" in message
