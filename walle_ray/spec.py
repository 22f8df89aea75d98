"""Workflow specs: pydantic models and loading from YAML.

A spec is a YAML mapping with ``name``, optional ``triggers`` and a list of
``tasks``. Every mapping forbids unknown keys, so a typo such as ``depend:``
is an error rather than a silently ignored field. Loading collects every
problem as a ``SpecIssue`` naming the workflow, the task, the field and the
line, and raises them together in one ``SpecError``.

Defaults, also listed in ``docs/spec.md``:

- ``type``: ``http`` (the only task type)
- ``method``: ``POST``, the method OpenFaaS functions are usually invoked with
- ``headers``: none
- ``body``: none, so the task receives the execution's input as its body
- ``retry``: 0 retries; when retrying, exponential backoff from 200 ms,
  doubling up to 10 s, each delay drawn between half and all of its value,
  on connection errors, timeouts, 5xx and 429
- ``timeout``: 30 s per attempt
- ``depends``: none
- ``trigger_rule``: ``all_success``
- ``when``, ``for_each``: none; ``max_concurrency``: every item at once
- workflow ``on_failure``: ``continue``; workflow ``timeout``: none
- workflow ``output``: the outputs of the tasks nothing depends on
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from walle_ray.dag import Dag, find_cycle
from walle_ray.durations import parse_duration
from walle_ray.errors import SpecError, SpecIssue
from walle_ray.expressions import (
    ExpressionError,
    parse_condition,
    parse_template,
    template_paths,
)
from walle_ray.rules import DEFAULT_RULE, TriggerRule
from walle_ray.yamlsafe import YamlDocument, YamlLoadError, load_documents, locate_line

NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}")
FUNCTION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
RETRY_CONDITIONS = ("timeout", "connection", "5xx", "429")
DEFAULT_TIMEOUT_S = 30.0
MAX_RETRIES = 100
# A header name is an HTTP token (RFC 9110, section 5.6.2).
HEADER_NAME_PATTERN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters other than tab are invalid in a header value (RFC 9110,
# section 5.5); CR and LF would let a value inject headers.
HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _check_name(value: str, what: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"invalid {what} {value!r}: use 1 to 128 letters, digits, '-' or '_', "
            "not starting with '-'"
        )
    return value


class _SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RetryPolicy(_SpecModel):
    """How often and how soon a failed attempt is tried again.

    ``retry: 3`` in a spec is short for ``retry: {max: 3}``. ``on`` lists the
    failures that are retried: HTTP status codes and the words ``timeout``,
    ``connection``, ``5xx`` and ``429``; other failures end the task at once.
    """

    max: int = Field(default=0, ge=0, le=MAX_RETRIES)
    backoff: Literal["exponential", "fixed", "none"] = "exponential"
    initial: Duration = 0.2
    max_delay: Duration = 10.0
    jitter: bool = True
    on: tuple[int | str, ...] = RETRY_CONDITIONS

    @field_validator("on")
    @classmethod
    def _check_conditions(cls, value: tuple[int | str, ...]) -> tuple[int | str, ...]:
        for item in value:
            if isinstance(item, bool) or (
                isinstance(item, int) and not 100 <= item <= 599
            ):
                raise ValueError(
                    f"invalid retry condition {item!r}: use an HTTP status code "
                    f"from 100 to 599 or one of {', '.join(RETRY_CONDITIONS)}"
                )
            if isinstance(item, str) and item not in RETRY_CONDITIONS:
                raise ValueError(
                    f"invalid retry condition {item!r}: use an HTTP status code "
                    f"or one of {', '.join(RETRY_CONDITIONS)}"
                )
        return value

    def retries_status(self, status: int) -> bool:
        """Tell whether an HTTP response with ``status`` is retried."""
        if status in self.on:
            return True
        if status == 429:
            return "429" in self.on
        return 500 <= status <= 599 and "5xx" in self.on


def _parse_retry(value: object) -> object:
    if isinstance(value, bool | str | float):
        raise ValueError(
            f"invalid retry {value!r}: use a whole number of retries without "
            "quotes, as in retry: 3, or a retry policy mapping"
        )
    if isinstance(value, int):
        return {"max": value}
    if isinstance(value, Mapping) and True in value:
        # YAML 1.1 reads the bare key ``on`` as the boolean true.
        return {("on" if key is True else key): item for key, item in value.items()}
    return value


def _parse_headers(value: object) -> object:
    """Accept the list of ``{name, value}`` entries or a plain mapping."""
    if value is None:
        return {}
    if isinstance(value, list):
        headers: dict[str, object] = {}
        for position, entry in enumerate(value, start=1):
            if not isinstance(entry, Mapping) or set(entry) != {"name", "value"}:
                raise ValueError(
                    f"header entry {position} must be a mapping with exactly the "
                    f"keys 'name' and 'value', got {entry!r}"
                )
            headers[str(entry["name"])] = entry["value"]
        value = headers
    if isinstance(value, Mapping):
        normalized: dict[str, str] = {}
        for name, item in value.items():
            if not HEADER_NAME_PATTERN.fullmatch(str(name)):
                raise ValueError(
                    f"invalid header name {name!r}: use letters, digits and "
                    "!#$%&'*+-.^_`|~, with no spaces or colons"
                )
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise ValueError(
                    f"header {name!r} must have a string value, got {item!r}"
                )
            if HEADER_VALUE_FORBIDDEN.search(str(item)):
                raise ValueError(
                    f"invalid value {item!r} for header {name!r}: it contains a "
                    "line break or another control character; remove it"
                )
            normalized[str(name)] = str(item)
        return normalized
    raise ValueError(
        "headers must be a list of {name, value} entries or a mapping, "
        f"got {type(value).__name__}"
    )


class Task(_SpecModel):
    """One HTTP call in a workflow."""

    name: str
    type: Literal["http"] = "http"
    url: str | None = None
    function: str | None = None
    method: str = "POST"
    headers: Annotated[dict[str, str], BeforeValidator(_parse_headers)] = Field(
        default_factory=dict
    )
    body: JsonValue = None
    retry: Annotated[RetryPolicy, BeforeValidator(_parse_retry)] = RetryPolicy()
    timeout: Annotated[Duration, Field(gt=0)] = DEFAULT_TIMEOUT_S
    depends: tuple[str, ...] = ()
    trigger_rule: TriggerRule = DEFAULT_RULE
    when: str | None = None
    for_each: JsonValue = None
    max_concurrency: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _check_task_name(cls, value: str) -> str:
        return _check_name(value, "task name")

    @field_validator("headers")
    @classmethod
    def _check_header_templates(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            _check_templates(text)
        return value

    @field_validator("body")
    @classmethod
    def _check_body_templates(cls, value: JsonValue) -> JsonValue:
        _check_templates(value)
        return value

    @field_validator("when")
    @classmethod
    def _check_when(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_condition(value)
            except ExpressionError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("for_each")
    @classmethod
    def _check_for_each(cls, value: JsonValue) -> JsonValue:
        if value is None or isinstance(value, list):
            _check_templates(value)
            return value
        if isinstance(value, str):
            try:
                template = parse_template(value)
            except ExpressionError as exc:
                raise ValueError(str(exc)) from None
            if template.is_single:
                return value
        raise ValueError(
            f"for_each must be a list or one template such as "
            f"'{{{{ tasks.NAME.output.items }}}}', got {value!r}"
        )

    @field_validator("method")
    @classmethod
    def _check_method(cls, value: str) -> str:
        method = value.upper()
        if method not in HTTP_METHODS:
            raise ValueError(
                f"invalid HTTP method {value!r}: use one of {', '.join(HTTP_METHODS)}"
            )
        return method

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_http_url(_with_placeholders(value))
        return value

    @field_validator("function")
    @classmethod
    def _check_function(cls, value: str | None) -> str | None:
        if value is not None and not FUNCTION_PATTERN.fullmatch(value):
            raise ValueError(
                f"invalid function name {value!r}: use letters, digits, '-', '_' "
                "or '.', as the function is named on the gateway"
            )
        return value

    @field_validator("depends", mode="before")
    @classmethod
    def _check_depends(cls, value: object) -> object:
        if value is None:
            return ()
        if isinstance(value, str):
            raise ValueError(
                f"depends must be a list of task names, got the string {value!r}; "
                f"write depends: [{value}]"
            )
        return value

    @model_validator(mode="after")
    def _check_target(self) -> Task:
        if self.url is None and self.function is None:
            raise ValueError(
                "a task needs a 'url' or a 'function': set exactly one of them"
            )
        if self.url is not None and self.function is not None:
            raise ValueError(
                "a task takes a 'url' or a 'function', not both: remove one of them"
            )
        if self.max_concurrency is not None and self.for_each is None:
            raise ValueError(
                "max_concurrency limits the items of for_each: add for_each or "
                "remove max_concurrency"
            )
        return self

    def template_fields(self) -> dict[str, JsonValue]:
        """Return the fields that may hold templates, by field name."""
        fields: dict[str, JsonValue] = {
            "url": self.url,
            "headers": dict(self.headers),
            "body": self.body,
            "for_each": self.for_each,
        }
        return {name: value for name, value in fields.items() if value is not None}

    def referenced_tasks(self) -> set[str]:
        """Return the tasks whose results this task's templates and ``when`` read."""
        names: set[str] = set()
        for value in self.template_fields().values():
            names.update(p.task for p in template_paths(value) if p.task)
        if self.when is not None:
            condition = parse_condition(self.when)
            names.update(p.task for p in condition.paths if p.task)
        return names

    def resolve_url(self, gateway: str | None) -> str:
        """Return the URL to call, resolving ``function`` against ``gateway``.

        The URL may still contain templates, rendered when the task runs.
        """
        if self.url is not None:
            return self.url
        if not gateway:
            raise ValueError(
                f"task '{self.name}' calls function '{self.function}' but no "
                "gateway is set: pass --gateway URL or set OPENFAAS_GATEWAY"
            )
        return f"{gateway.rstrip('/')}/function/{self.function}"


class Trigger(_SpecModel):
    """How an execution of the workflow can be started from outside."""

    type: Literal["http"] = "http"
    name: str
    async_: bool = Field(default=False, alias="async")

    @field_validator("name")
    @classmethod
    def _check_trigger_name(cls, value: str) -> str:
        return _check_name(value, "trigger name")


class Workflow(_SpecModel):
    """A named DAG of tasks."""

    name: str
    description: str | None = None
    triggers: tuple[Trigger, ...] = ()
    tasks: tuple[Task, ...] = Field(min_length=1)
    output: JsonValue = None
    on_failure: Literal["continue", "fail_fast"] = "continue"
    timeout: Annotated[Duration | None, Field(gt=0)] = None

    @field_validator("name")
    @classmethod
    def _check_workflow_name(cls, value: str) -> str:
        return _check_name(value, "workflow name")

    @field_validator("output")
    @classmethod
    def _check_output_templates(cls, value: JsonValue) -> JsonValue:
        _check_templates(value)
        return value

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def dag(self) -> Dag:
        return Dag.build({task.name: task.depends for task in self.tasks})


def _check_templates(value: JsonValue) -> None:
    """Raise ``ValueError`` if a string in ``value`` contains an invalid template."""
    try:
        template_paths(value)
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None


def _with_placeholders(url: str) -> str:
    """Replace the templates in ``url`` by a placeholder, to check the rest."""
    if "{{" not in url:
        return url
    try:
        template = parse_template(url)
    except ExpressionError as exc:
        raise ValueError(f"invalid template in URL: {exc}") from None
    # A URL that starts with a template gets its scheme and host at run time.
    marked = template.render_placeholders("\0")
    if marked.startswith("\0"):
        marked = "http://placeholder" + marked[1:]
    return marked.replace("\0", "x")


def check_http_url(value: str) -> None:
    """Raise ``ValueError`` unless ``value`` is an absolute http(s) URL."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {value!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(
            f"invalid URL {value!r}: use an absolute http:// or https:// URL "
            "with a host"
        )
    if any(ch.isspace() for ch in value):
        raise ValueError(f"invalid URL {value!r}: it contains whitespace")


# -- loading -----------------------------------------------------------------


def load_workflows(text: str, source: str | None = None) -> list[Workflow]:
    """Parse and validate every workflow in a YAML text.

    Raises ``SpecError`` listing every problem found, across all documents.
    """
    try:
        documents = load_documents(text)
    except YamlLoadError as exc:
        raise SpecError([SpecIssue(exc.message, line=exc.line)], source) from None
    if not documents:
        raise SpecError(
            [
                SpecIssue(
                    "the file contains no workflow: write a mapping with "
                    "'name' and 'tasks'"
                )
            ],
            source,
        )
    workflows: list[Workflow] = []
    issues: list[SpecIssue] = []
    for document in documents:
        workflow, found = _validate_document(document)
        issues.extend(found)
        if workflow is not None:
            workflows.append(workflow)
    seen: set[str] = set()
    for workflow in workflows:
        if workflow.name in seen:
            issues.append(
                SpecIssue(
                    "two documents define this workflow: rename one of them",
                    workflow=workflow.name,
                    field="name",
                )
            )
        seen.add(workflow.name)
    if issues:
        raise SpecError(issues, source)
    return workflows


def load_workflow_file(path: str | Path) -> list[Workflow]:
    """Read and validate the workflows in a YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            [SpecIssue(f"cannot read {path}: {exc.strerror or exc}")], str(path)
        ) from None
    except UnicodeDecodeError:
        raise SpecError(
            [SpecIssue(f"{path} is not UTF-8 text: save the spec as UTF-8")],
            str(path),
        ) from None
    return load_workflows(text, source=str(path))


def load_workflow(text: str, source: str | None = None) -> Workflow:
    """Parse a YAML text that must contain exactly one workflow."""
    workflows = load_workflows(text, source)
    if len(workflows) != 1:
        names = ", ".join(w.name for w in workflows)
        raise SpecError(
            [SpecIssue(f"expected one workflow, found {len(workflows)}: {names}")],
            source,
        )
    return workflows[0]


def _validate_document(
    document: YamlDocument,
) -> tuple[Workflow | None, list[SpecIssue]]:
    data = document.data
    if not isinstance(data, dict):
        type_name = type(data).__name__
        article = "an" if type_name[0] in "aeiou" else "a"
        kind = "empty" if data is None else f"{article} {type_name}"
        return None, [
            SpecIssue(
                f"document {document.index + 1} is {kind}, not a mapping: a "
                "workflow is a mapping with 'name' and 'tasks'",
                line=document.node.start_mark.line + 1,
            )
        ]
    name = data.get("name")
    workflow_name = name if isinstance(name, str) else None
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # pydantic also reports a non-empty task list as too short when all
        # of its tasks failed; only an empty list deserves that message.
        errors = [
            error
            for error in errors
            if not (error["type"] == "too_short" and data.get("tasks"))
        ]
        return None, [
            _issue_from_error(error, data, document, workflow_name) for error in errors
        ]
    return workflow, _graph_issues(workflow, document)


def _issue_from_error(
    error: Any, data: dict[str, Any], document: YamlDocument, workflow: str | None
) -> SpecIssue:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    task: str | None = None
    field_path: list[str] = []
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "tasks" and isinstance(parts[1], int):
        task = _task_label(data, parts[1])
        parts = parts[2:]
    elif len(parts) >= 2 and parts[0] == "triggers" and isinstance(parts[1], int):
        field_path.append(f"triggers[{parts[1]}]")
        parts = parts[2:]
    # Union and wrapper validators add loc parts named after types; keep the
    # names a spec author wrote.
    for part in parts:
        if isinstance(part, int):
            field_path.append(f"[{part}]")
        elif part in _SPEC_KEYS:
            field_path.append(part)
    if error["type"] == "extra_forbidden":
        field_path.append(str(loc[-1]))
    field = ".".join(field_path).replace(".[", "[") or None
    message = _message_for(error, parts)
    line_path = tuple(p for p in loc if p in _SPEC_KEYS or isinstance(p, int))
    if error["type"] == "extra_forbidden":
        line_path += (loc[-1],)
    line = locate_line(document.node, line_path)
    return SpecIssue(message, workflow=workflow, task=task, field=field, line=line)


def _task_label(data: dict[str, Any], index: int) -> str:
    tasks = data.get("tasks")
    if isinstance(tasks, list) and 0 <= index < len(tasks):
        entry = tasks[index]
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            return str(entry["name"])
    return f"#{index + 1}"


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


_ALLOWED_BY_PARENT: dict[str, list[str]] = {
    "tasks": _allowed_keys(Task),
    "triggers": _allowed_keys(Trigger),
    "retry": _allowed_keys(RetryPolicy),
    "": _allowed_keys(Workflow),
}
_SPEC_KEYS = frozenset(key for keys in _ALLOWED_BY_PARENT.values() for key in keys)


def _message_for(error: Any, parts: list[str | int]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        parent = _parent_section(error["loc"])
        allowed = _ALLOWED_BY_PARENT.get(parent, [])
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"unknown field '{key}'.{hint} Valid fields here: {', '.join(allowed)}"
    if kind == "missing":
        return "missing required field"
    if kind in ("too_short",) and parts == ["tasks"]:
        return "the task list is empty: add at least one task"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind not in ("value_error", "assertion_error") and "input" in error:
        message = f"{message} (got {_short_repr(error['input'])})"
    return message


def _parent_section(loc: tuple[Any, ...]) -> str:
    for part in reversed(loc[:-1]):
        if part in ("tasks", "triggers", "retry"):
            return str(part)
    return ""


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _graph_issues(workflow: Workflow, document: YamlDocument) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    index_of: dict[str, int] = {}
    node = document.node
    for position, task in enumerate(workflow.tasks):
        if task.name in index_of:
            issues.append(
                SpecIssue(
                    f"duplicate task name (first defined as task "
                    f"{index_of[task.name] + 1}): give each task a unique name",
                    workflow=workflow.name,
                    task=task.name,
                    field="name",
                    line=locate_line(node, ("tasks", position, "name")),
                )
            )
        else:
            index_of[task.name] = position
    for position, task in enumerate(workflow.tasks):
        for dep in task.depends:
            if dep == task.name or dep not in index_of:
                line = locate_line(node, ("tasks", position, "depends"))
            if dep == task.name:
                issues.append(
                    SpecIssue(
                        "a task cannot depend on itself: remove it from depends",
                        workflow=workflow.name,
                        task=task.name,
                        field="depends",
                        line=line,
                    )
                )
            elif dep not in index_of:
                close = difflib.get_close_matches(dep, list(index_of), n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                issues.append(
                    SpecIssue(
                        f"depends on unknown task '{dep}'.{hint} Dependencies "
                        "must name tasks of this workflow",
                        workflow=workflow.name,
                        task=task.name,
                        field="depends",
                        line=line,
                    )
                )
    if issues:
        return issues
    depends = {task.name: task.depends for task in workflow.tasks}
    cycle = find_cycle(depends)
    if cycle is not None:
        first = cycle[0]
        issues.append(
            SpecIssue(
                "dependency cycle " + " -> ".join(cycle) + ": remove one of "
                "these dependencies",
                workflow=workflow.name,
                task=first,
                field="depends",
                line=locate_line(node, ("tasks", index_of[first], "depends")),
            )
        )
    issues.extend(_reference_issues(workflow, document, index_of))
    seen_triggers: set[str] = set()
    for trigger in workflow.triggers:
        if trigger.name in seen_triggers:
            issues.append(
                SpecIssue(
                    f"duplicate trigger name '{trigger.name}': give each trigger "
                    "a unique name",
                    workflow=workflow.name,
                    field="triggers",
                )
            )
        seen_triggers.add(trigger.name)
    return issues


def _reference_issues(
    workflow: Workflow, document: YamlDocument, index_of: dict[str, int]
) -> list[SpecIssue]:
    """Check that templates and conditions read only tasks upstream of them."""
    issues: list[SpecIssue] = []
    depends = {task.name: task.depends for task in workflow.tasks}
    node = document.node

    def issue(message: str, task: Task | None, field: str) -> None:
        if task is None:
            line = locate_line(node, ("output",))
        else:
            line = locate_line(node, ("tasks", index_of[task.name], field))
        issues.append(
            SpecIssue(
                message,
                workflow=workflow.name,
                task=task.name if task else None,
                field=field,
                line=line,
            )
        )

    for task in workflow.tasks:
        fields = dict(task.template_fields())
        if task.when is not None:
            fields["when"] = task.when
        for field, value in fields.items():
            paths = (
                parse_condition(value).paths
                if field == "when" and isinstance(value, str)
                else template_paths(value)
            )
            for path in paths:
                if path.root in ("item", "index") and (
                    task.for_each is None or field == "for_each"
                ):
                    issue(
                        f"'{path}' is only defined inside a for_each task's url, "
                        "headers, body and when: add for_each or remove it",
                        task,
                        field,
                    )
                name = path.task
                if name is None:
                    continue
                if name not in depends:
                    close = difflib.get_close_matches(name, list(depends), n=1)
                    hint = f" Did you mean '{close[0]}'?" if close else ""
                    issue(f"'{path}' names unknown task '{name}'.{hint}", task, field)
                elif not _is_upstream(name, task.name, depends):
                    issue(
                        f"'{path}' reads task '{name}', which is not upstream of "
                        f"'{task.name}': add '{name}' to depends (directly or "
                        "through another task)",
                        task,
                        field,
                    )
    for path in template_paths(workflow.output):
        if path.root in ("item", "index"):
            issue(f"'{path}' is not defined in the workflow output", None, "output")
        if path.task is not None and path.task not in depends:
            close = difflib.get_close_matches(path.task, list(depends), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            issue(f"'{path}' names unknown task '{path.task}'.{hint}", None, "output")
    return issues


def _is_upstream(
    ancestor: str, task: str, depends: Mapping[str, tuple[str, ...]]
) -> bool:
    """Tell whether ``ancestor`` is reachable from ``task`` through depends."""
    if ancestor in depends[task]:
        return True
    seen: set[str] = set()
    stack = list(depends[task])
    while stack:
        current = stack.pop()
        if current == ancestor:
            return True
        if current not in seen:
            seen.add(current)
            stack.extend(depends[current])
    return False
