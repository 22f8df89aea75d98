"""Paths, templates and conditions: parsing, errors and evaluation."""

from __future__ import annotations

import contextlib
import copy
import json
import pickle
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walle_ray.expressions import (
    MAX_DEPTH,
    ROOTS,
    ExpressionError,
    Path,
    parse_condition,
    parse_path,
    parse_template,
    render_value,
    resolve,
    template_paths,
)

CONTEXT: dict[str, Any] = {
    "input": {
        "order": {"id": 7, "total": 12.5, "tags": ["new", "vip"]},
        "name": "Ada",
        "count": 3,
        "flag": True,
        "empty": [],
        "nothing": None,
        "a b": "spaced",
        "matrix": [[1, 2], [3, 4]],
    },
    "tasks": {
        "task-1": {
            "status": "SUCCESS",
            "output": {"items": [{"price": 3}, {"price": 4}]},
        },
        "my.task": {"status": "FAILED", "output": None},
        "fetch_2": {"status": "SUCCESS", "output": "plain text"},
    },
    "item": {"name": "widget", "qty": 2},
    "index": 1,
    "execution": {"id": "exec-42", "workflow": "orders"},
}


def error_of(function: Any, *args: Any) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        function(*args)
    return info.value


# Paths


@pytest.mark.parametrize(
    ("text", "root", "parts"),
    [
        ("input", "input", ()),
        ("input.order.id", "input", ("order", "id")),
        (
            "tasks.task-1.output.items[0].price",
            "tasks",
            ("task-1", "output", "items", 0, "price"),
        ),
        ("tasks.task-1.status", "tasks", ("task-1", "status")),
        ("item", "item", ()),
        ("item.name", "item", ("name",)),
        ("index", "index", ()),
        ("execution.id", "execution", ("id",)),
        ("execution.workflow", "execution", ("workflow",)),
        ('input["a b"]', "input", ("a b",)),
        ("input['a b']", "input", ("a b",)),
        ("input.items[-1]", "input", ("items", -1)),
        ("input[ 2 ]", "input", (2,)),
        ('tasks["my.task"].output', "tasks", ("my.task", "output")),
        ("tasks._private.x", "tasks", ("_private", "x")),
        ("tasks.1st.output", "tasks", ("1st", "output")),
        ("input.0", "input", ("0",)),
        ('input["\\u00e9\\n\\"q\\""]', "input", ('é\n"q"',)),
        ('input["\\ud83d\\ude00"]', "input", ("\U0001f600",)),
    ],
)
def test_parse_path_forms(text: str, root: str, parts: tuple[Any, ...]) -> None:
    path = parse_path(text)
    assert path.root == root
    assert path.parts == parts
    assert parse_path(str(path)) == path


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("input['order'].id", "input.order.id"),
        ('input["a b"]', 'input["a b"]'),
        ("input[ 007 ]", "input[7]"),
        ('tasks["my.task"].output', 'tasks["my.task"].output'),
        ('input["-x"]', 'input["-x"]'),
        ('input["a\\"b"]', 'input["a\\"b"]'),
    ],
)
def test_path_canonical_text(text: str, canonical: str) -> None:
    assert str(parse_path(text)) == canonical


def test_path_task_property() -> None:
    assert parse_path("tasks.task-1.output").task == "task-1"
    assert parse_path('tasks["my.task"]').task == "my.task"
    assert parse_path("input.tasks").task is None
    assert parse_path("item").task is None


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "a path starts with one of"),
        ("inputs.x", 0, "did you mean 'input'?"),
        ("foo", 0, "unknown name 'foo'"),
        ("input.", 6, "expected a key after '.'"),
        ("input..x", 6, "expected a key after '.'"),
        ("input[", 6, "expected an integer index or a quoted key"),
        ("input[1.5]", 7, "expected ']'"),
        ('input["a"', 9, "expected ']'"),
        ('input["a', 6, "unterminated string"),
        ("input[0]x", 8, "expected '.', '[' or the end"),
        ("input x", 5, "unexpected ' x' after the path"),
        (" input", 0, "a path starts with one of"),
        ("index.x", 0, "'index' is a number and takes no keys"),
        ("tasks", 0, "name a task after 'tasks'"),
        ("tasks[0].output", 0, "a task name is a string"),
        ('input["\\q"]', 7, "invalid escape '\\q'"),
        ('input["\\u12"]', 9, "expected 4 hex digits"),
        ("input[" + "9" * 5000 + "]", 6, "number too long"),
    ],
)
def test_parse_path_errors(text: str, position: int, fragment: str) -> None:
    error = error_of(parse_path, text)
    assert fragment in str(error)
    assert error.position == position
    assert error.text == text
    assert f"at column {position + 1}" in str(error)


def test_path_error_on_long_text_shows_excerpt() -> None:
    text = "input." + "a" * 500 + "..b"
    error = error_of(parse_path, text)
    assert error.position == 507
    assert len(str(error)) < 300
    assert "..." in str(error)


# Resolving


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("input.order.id", 7),
        ("input.order.tags[1]", "vip"),
        ("input.order.tags[-1]", "vip"),
        ("input.order.tags[-2]", "new"),
        ("tasks.task-1.output.items[0].price", 3),
        ("tasks.task-1.status", "SUCCESS"),
        ('tasks["my.task"].status', "FAILED"),
        ('input["a b"]', "spaced"),
        ("input.matrix[1][0]", 3),
        ("input.nothing", None),
        ("item.name", "widget"),
        ("index", 1),
        ("execution.id", "exec-42"),
    ],
)
def test_resolve_values(text: str, expected: Any) -> None:
    assert resolve(parse_path(text), CONTEXT) == expected
    assert resolve(text, CONTEXT) == expected


def test_resolve_returns_context_object() -> None:
    assert resolve("input.order", CONTEXT) is CONTEXT["input"]["order"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tasks.task-1.output.items[3]",
            "path 'tasks.task-1.output.items[3]' not found: "
            "list 'tasks.task-1.output.items' has 2 items",
        ),
        (
            "tasks.task-1.output.items[-3]",
            "list 'tasks.task-1.output.items' has 2 items",
        ),
        ("input.empty[0]", "list 'input.empty' is empty"),
        (
            "input.order.idd",
            "path 'input.order.idd' not found: object 'input.order' has no key "
            "'idd' (did you mean 'id'?)",
        ),
        ("tasks.nope.output", "object 'tasks' has no key 'nope'"),
        ("input.zzz", "(keys: 'order', 'name', 'count'"),
        ("item.name.first", "'item.name' is a string, so it has no key 'first'"),
        ("input.count[0]", "'input.count' is a number, so it has no index [0]"),
        ("input.nothing.x", "'input.nothing' is null, so it has no key 'x'"),
        ("input.flag.x", "'input.flag' is a boolean"),
        ("input.order.tags.0", "index it as input.order.tags[0]"),
        ("input.order[0]", 'write input.order["0"] for the key "0"'),
        ("tasks.my.task", "object 'tasks' has no key 'my'"),
    ],
)
def test_resolve_errors(text: str, message: str) -> None:
    error = error_of(resolve, text, CONTEXT)
    assert message in str(error)
    assert error.text == text


def test_resolve_missing_root_lists_available() -> None:
    error = error_of(resolve, "item.name", {"input": {}, "tasks": {}})
    assert str(error) == (
        "path 'item.name' not found: 'item' is not available here "
        "(available: 'input', 'tasks')"
    )


def test_resolve_error_position_points_at_part() -> None:
    error = error_of(resolve, "input.order.idd", CONTEXT)
    assert error.position == len("input.order")


def test_resolve_key_hint_lists_many_keys() -> None:
    context = {"input": {f"key{number:03}": number for number in range(30)}}
    error = error_of(resolve, "input.zzz", context)
    assert "and 20 more" in str(error)


def test_resolve_empty_object_hint() -> None:
    error = error_of(resolve, "input.x", {"input": {}})
    assert "(it is empty)" in str(error)


# Templates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ input.order }}", CONTEXT["input"]["order"]),
        ("{{input.count}}", 3),
        ("{{   input.flag   }}", True),
        ("{{ input.nothing }}", None),
        ("{{ input.order.total }}", 12.5),
        ("{{ input.order.tags }}", ["new", "vip"]),
        ("{{ index }}", 1),
        ('{{ "text" }}', "text"),
        ("{{ 42 }}", 42),
        ("{{ -1.5 }}", -1.5),
        ("{{ null }}", None),
        ("{{ false }}", False),
    ],
)
def test_whole_template_keeps_json_type(text: str, expected: Any) -> None:
    template = parse_template(text)
    assert template.is_single
    value = template.render(CONTEXT)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id={{ input.order.id }}", "id=7"),
        (" {{ input.count }}", " 3"),
        ("{{ input.count }} ", "3 "),
        ("{{ input.name }}-{{ index }}", "Ada-1"),
        ("flag={{input.flag}}", "flag=true"),
        ("none={{ input.nothing }}", "none=null"),
        ("tags={{ input.order.tags }}", 'tags=["new","vip"]'),
        (
            "order={{ input.order }}",
            'order={"id":7,"total":12.5,"tags":["new","vip"]}',
        ),
        ("name: {{ input.name }}", "name: Ada"),
        ("é {{ 'ü' }}", "é ü"),
        ("{{ execution.workflow }}/{{ execution.id }}", "orders/exec-42"),
    ],
)
def test_template_interpolation(text: str, expected: str) -> None:
    template = parse_template(text)
    assert not template.is_single
    assert template.render(CONTEXT) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ "{{" }} raw {{ "}}" }}', "{{ raw }}"),
        ("{{ '{{ input.name }}' }}", "{{ input.name }}"),
        ("a } b { c }} d", "a } b { c }} d"),
        ('{"a": {"b": 1}}', '{"a": {"b": 1}}'),
        ("{ {{ input.count }} }", "{ 3 }"),
    ],
)
def test_template_braces_and_escaping(text: str, expected: str) -> None:
    assert parse_template(text).render(CONTEXT) == expected


def test_whole_string_literal_placeholder_with_braces() -> None:
    assert parse_template('{{ "{{" }}').render({}) == "{{"


def test_static_template_returns_same_text() -> None:
    text = "no placeholders here"
    template = parse_template(text)
    assert template.is_static
    assert not template.is_single
    assert template.paths == ()
    assert template.render({}) is text
    assert parse_template("").render({}) == ""


def test_template_paths_in_order_without_repeats() -> None:
    template = parse_template(
        "{{ tasks.b.output }} {{ input.x }} {{ tasks.b.output }} {{ 'lit' }}"
    )
    assert template.paths == (parse_path("tasks.b.output"), parse_path("input.x"))
    assert [path.task for path in template.paths] == ["b", None]


def test_render_placeholders_replaces_each() -> None:
    template = parse_template("http://{{ input.host }}:{{ input.port }}/x")
    assert template.render_placeholders("h") == "http://h:h/x"
    assert parse_template("plain").render_placeholders("h") == "plain"


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("{{ input.x", 0, "'{{' is not closed"),
        ("abc {{", 4, "'{{' is not closed"),
        ("{{ input.x }", 0, "'{{' is not closed"),
        ("{{ }}", 0, "empty placeholder"),
        ("x {{}}", 2, "empty placeholder"),
        ("{{ inputs.x }}", 3, "did you mean 'input'?"),
        ("{{ input..a }}", 9, "expected a key after '.'"),
        ("{{ input.x > 3 }}", 11, "a placeholder contains one path or literal"),
        ("{{ input.x input.y }}", 11, "expected '}}'"),
        ("{{ 'open }}", 3, "unterminated string"),
        ("{{ {{ input.x }} }}", 3, "expected a path or a literal"),
        ("{{ and }}", 3, "expected a value before 'and'"),
        ("ok {{ input.a }} then {{ bad }}", 25, "unknown name 'bad'"),
    ],
)
def test_template_errors(text: str, position: int, fragment: str) -> None:
    error = error_of(parse_template, text)
    assert fragment in str(error)
    assert error.position == position
    assert error.text == text
    assert str(error).startswith("invalid template ")


def test_template_render_error_has_position() -> None:
    text = "a={{ input.name }} b={{ input.missing.x }}"
    error = error_of(parse_template(text).render, CONTEXT)
    assert "path 'input.missing.x' not found" in str(error)
    assert error.text == text
    assert error.position == text.index("input.missing")


# Nested values


BODY: dict[str, Any] = {
    "order": "{{ input.order.id }}",
    "label": "Order {{ input.order.id }} for {{ input.name }}",
    "lines": [
        {"sku": "{{ item.name }}", "qty": "{{ item.qty }}"},
        "{{ tasks.task-1.output.items }}",
        5,
        None,
        True,
    ],
    "{{ input.name }}": "keys stay as written",
    "static": "text",
}


def test_render_value_nested() -> None:
    original = copy.deepcopy(BODY)
    rendered = render_value(BODY, CONTEXT)
    assert rendered == {
        "order": 7,
        "label": "Order 7 for Ada",
        "lines": [
            {"sku": "widget", "qty": 2},
            [{"price": 3}, {"price": 4}],
            5,
            None,
            True,
        ],
        "{{ input.name }}": "keys stay as written",
        "static": "text",
    }
    assert original == BODY
    assert rendered is not BODY
    assert rendered["lines"] is not BODY["lines"]


@pytest.mark.parametrize("value", ["text", 3, 2.5, None, True, [], {}])
def test_render_value_scalars(value: Any) -> None:
    assert render_value(value, {}) == value


def test_template_paths_walks_values_only() -> None:
    paths = template_paths(BODY)
    assert [str(path) for path in paths] == [
        "input.order.id",
        "input.name",
        "item.name",
        "item.qty",
        "tasks.task-1.output.items",
    ]
    assert template_paths("no templates") == []
    assert template_paths(None) == []


def test_render_value_error_location() -> None:
    value = {"a": [1, {"b": "x {{ input.zz }}"}]}
    error = error_of(render_value, value, CONTEXT)
    assert error.location == ("a", 1, "b")
    assert str(error).startswith("at 'a[1].b': path 'input.zz' not found")
    assert error.text == "x {{ input.zz }}"
    assert error.position == 5


def test_template_paths_error_location() -> None:
    value = {"headers": {"X-Id": "{{ input.id"}}
    error = error_of(template_paths, value)
    assert error.location == ("headers", "X-Id")
    assert str(error).startswith("at 'headers.X-Id': invalid template")


def test_render_value_many_calls_use_cache() -> None:
    body = {
        "id": "{{ input.order.id }}",
        "text": "order {{ input.order.id }} of {{ input.name }}",
        "items": ["{{ item.name }}", "fixed", {"q": "{{ item.qty }}"}],
        "plain": "nothing to render " * 5,
    }
    before = parse_template.cache_info().misses
    started = time.perf_counter()
    for _ in range(10_000):
        rendered = render_value(body, CONTEXT)
        paths = template_paths(body)
    elapsed = time.perf_counter() - started
    assert rendered["id"] == 7
    assert len(paths) == 4
    assert parse_template.cache_info().misses - before <= 4
    # 20,000 calls took about 0.2 s on a 2-core machine; the bound only
    # catches a lost cache or a quadratic walk.
    assert elapsed < 20


def test_template_with_many_placeholders() -> None:
    text = " ".join("{{ index }}" for _ in range(10_000))
    template = parse_template(text)
    assert template.paths == (Path("index"),)
    assert template.render({"index": 5}) == " ".join(["5"] * 10_000)


# Conditions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("false", False),
        ("null", False),
        ("input.count > 2", True),
        ("input.count >= 3", True),
        ("input.count < 3", False),
        ("input.count <= 3", True),
        ("input.count == 3", True),
        ("input.count == 3.0", True),
        ("input.count != 3", False),
        ("input.name == 'Ada'", True),
        ('input.name == "Ada"', True),
        ("input.name < 'B'", True),
        ("input.order.total > -1e3", True),
        ("{{ input.count }} > 2", True),
        ("{{ input.count > 2 }}", True),
        ("{{ input.count }} > 2 and {{ input.flag }}", True),
        ("input.flag", True),
        ("input.empty", False),
        ("input.nothing", False),
        ("input.name", True),
        ("not input.empty", True),
        ("not not input.flag", True),
        ("'id' in input.order", True),
        ("'nope' in input.order", False),
        ("'nope' not in input.order", True),
        ("'vip' in input.order.tags", True),
        ("'d' in input.name", True),
        ("input.name in ['Ada', 'Bob']", True),
        ("input.count in [1, 2]", False),
        ("input.count not in [1, 2]", True),
        ("[1, 2] in input.matrix", True),
        ("input.order.tags == ['new', 'vip']", True),
        ("input.order.tags == ['vip', 'new']", False),
        ("input.order == {{ input.order }}", True),
        ("[input.count, index,] == [3, 1]", True),
        ("[] == input.empty", True),
        ("1 == true", False),
        ("0 == false", False),
        ("null == false", False),
        ("null == null", True),
        ("'3' == 3", False),
        ("[1] == [true]", False),
        ("input.nothing == null", True),
        ("tasks.task-1.status == 'SUCCESS'", True),
        ('tasks["my.task"].status != "SUCCESS"', True),
        ("execution.workflow == 'orders'", True),
        ("item.qty == 2", True),
        ("index == 1", True),
        ("(input.count > 2)", True),
        ("((input.count > 2))", True),
        ("input.count>2", True),
        ("input.count\n>\t2", True),
        ("'a\\nb' == \"a\\nb\"", True),
        ("'it\\'s' == \"it's\"", True),
    ],
)
def test_condition_values(text: str, expected: bool) -> None:
    assert parse_condition(text).evaluate(CONTEXT) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # and binds tighter than or
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("false and false or true", True),
        ("false and (false or true)", False),
        # not binds tighter than and/or
        ("not false and false", False),
        ("not (false and false)", True),
        ("not true or true", True),
        ("not (true or true)", False),
        # not applies to a whole comparison, as in Python
        ("not input.count == 3", False),
        ("not input.count == 4", True),
        ("not 'x' in input.name", True),
        # comparisons bind tighter than and/or
        ("input.count == 3 and input.name == 'Ada'", True),
        ("input.count == 4 or input.name == 'Ada'", True),
    ],
)
def test_condition_precedence(text: str, expected: bool) -> None:
    assert parse_condition(text).evaluate(CONTEXT) is expected


def test_condition_short_circuits_missing_paths() -> None:
    context = {"input": {"a": 1}}
    assert parse_condition("input.a == 2 and input.missing").evaluate(context) is False
    assert parse_condition("input.a == 1 or input.missing").evaluate(context) is True
    assert (
        parse_condition("'missing' in input and input.missing").evaluate(context)
        is False
    )


def test_condition_paths_in_order_without_repeats() -> None:
    condition = parse_condition(
        "tasks.a.status == 'SUCCESS' and {{ input.x }} > 1 or tasks.a.status"
    )
    assert condition.paths == (parse_path("tasks.a.status"), parse_path("input.x"))
    assert [path.task for path in condition.paths] == ["a", None]
    assert parse_condition("[item, [index]]").paths == (Path("item"), Path("index"))


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty condition"),
        ("   ", 3, "empty condition"),
        ("input.x ==", 10, "expected a value but the condition ends here"),
        ("input.x >> 3", 9, "expected a path or a literal"),
        ("input.x = 3", 8, "use '==' to test equality"),
        ("input.x && true", 8, "use 'and' instead of '&&'"),
        ("input.x || true", 8, "use 'or' instead of '||'"),
        ("!input.x", 0, "expected a path or a literal"),
        ("1 < 2 < 3", 6, "comparisons do not chain"),
        ("status == 'SUCCESS'", 0, "unknown name 'status'"),
        ("input.status == SUCCESS", 16, "text needs quotes, as in 'SUCCESS'"),
        ("True", 0, "write true"),
        ("None == input.x", 0, "write null"),
        ("(input.x", 8, "expected ')' to close '(' at column 1"),
        ("input.x)", 7, "unexpected ')'"),
        ("input.x input.y", 8, "expected an operator, 'and', 'or'"),
        ("input.x not input.y", 8, "expected an operator"),
        ("[1, 2", 5, "expected ']' or ',' in the list opened at column 1"),
        ("[1 2]", 3, "expected ']'"),
        ("input.x and", 11, "expected a value but the condition ends here"),
        ("and input.x", 0, "expected a value before 'and'"),
        ("not", 3, "expected a value but the condition ends here"),
        ("3abc == 1", 0, "invalid number '3a'"),
        ("1.5.2 == 1", 0, "invalid number"),
        ("01 == 1", 0, "invalid number"),
        ("- 1 == 1", 0, "expected a number after '-'"),
        ("1e999 == 1", 0, "number out of range"),
        ("'abc", 0, "unterminated string"),
        ("{{ input.x", 10, "expected '}}' to close '{{' at column 1"),
        ("{{ {{ input.x }} }}", 3, "placeholders cannot be nested"),
        ("index.x > 1", 0, "'index' is a number"),
        ("tasks == 1", 0, "name a task after 'tasks'"),
        ("9" * 5000 + " == 1", 0, "number too long"),
    ],
)
def test_condition_errors(text: str, position: int, fragment: str) -> None:
    error = error_of(parse_condition, text)
    assert fragment in str(error)
    assert error.position == position
    assert error.text == text
    assert str(error).startswith("invalid condition ")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("input.name < 3", "cannot compare string \"Ada\" with number 3 using '<'"),
        ("input.flag > 0", "cannot compare boolean true with number 0 using '>'"),
        ("input.nothing <= 1", "cannot compare null with number 1"),
        ("input.order.tags >= []", "cannot compare list"),
        ("3 in input.name", "needs a string on the left, got number 3"),
        ("3 in input.order", "tests its keys, which are strings, got number 3"),
        ("1 in input.count", "needs a list, string or object on the right"),
        ("'a' not in null", "needs a list, string or object on the right, got null"),
    ],
)
def test_condition_type_errors(text: str, fragment: str) -> None:
    condition = parse_condition(text)
    error = error_of(condition.evaluate, CONTEXT)
    assert fragment in str(error)
    assert error.text == text
    assert error.position is not None
    assert text[error.position :].startswith(("<", ">", "in", "not"))


def test_condition_missing_path_raises() -> None:
    text = "input.count > 1 and tasks.zzz.status == 'SUCCESS'"
    error = error_of(parse_condition(text).evaluate, CONTEXT)
    assert "path 'tasks.zzz.status' not found" in str(error)
    assert error.position == text.index("tasks.zzz")
    assert error.text == text


def test_deep_nesting_raises_expression_error() -> None:
    for text in (
        "(" * 10_000 + "true" + ")" * 10_000,
        "[" * 10_000 + "]" * 10_000,
        "not " * 10_000 + "true",
        "{{ " + "(" * 10_000,
    ):
        error = error_of(parse_condition, text)
        assert f"nested more than {MAX_DEPTH} levels deep" in str(error)
        assert len(str(error)) < 300


def test_nesting_at_limit_parses() -> None:
    depth = MAX_DEPTH
    text = "(" * depth + "input.count" + ")" * depth + " == 3"
    assert parse_condition(text).evaluate(CONTEXT) is True


def test_long_flat_conditions() -> None:
    terms = 10_000
    conjunction = " and ".join(f"index != {number}" for number in range(2, terms))
    assert parse_condition(conjunction).evaluate({"index": 1}) is True
    assert parse_condition(conjunction).evaluate({"index": 5000}) is False
    members = ", ".join(str(number) for number in range(terms))
    assert parse_condition(f"index in [{members}]").evaluate({"index": 9999})


def test_deep_data_comparison_raises_expression_error() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    condition = parse_condition("input == input")
    error = error_of(condition.evaluate, {"input": deep})
    assert "nested too deeply" in str(error)


def test_condition_accepts_str_enum_status() -> None:
    from walle_ray.results import TaskStatus

    context = {"tasks": {"a": {"status": TaskStatus.SUCCESS}}}
    assert parse_condition("tasks.a.status == 'SUCCESS'").evaluate(context)


# Errors


def test_expression_error_is_value_error_and_pickles() -> None:
    error = error_of(parse_condition, "input.x ==")
    assert isinstance(error, ValueError)
    copied = pickle.loads(pickle.dumps(error))
    assert str(copied) == str(error)
    assert copied.text == error.text
    assert copied.position == error.position
    located = error_of(render_value, {"a": "{{ input.zz }}"}, CONTEXT)
    assert pickle.loads(pickle.dumps(located)).location == ("a",)


# Property tests

KEYS = st.one_of(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,12}", fullmatch=True),
    st.text(max_size=12),
)
PARTS = st.lists(st.one_of(KEYS, st.integers(-1000, 1000)), max_size=6)


@st.composite
def paths(draw: st.DrawFn) -> Path:
    root = draw(st.sampled_from(ROOTS))
    if root == "index":
        return Path("index")
    parts = draw(PARTS)
    if root == "tasks":
        parts = [draw(KEYS), *parts]
    return Path(root, tuple(parts))


@given(paths())
def test_path_text_round_trip(path: Path) -> None:
    text = str(path)
    assert parse_path(text) == path
    assert str(parse_path(text)) == text


@given(paths())
def test_path_round_trip_inside_condition(path: Path) -> None:
    text = f"{{{{ {path} }}}} == {path}"
    assert parse_condition(text).paths == (path,)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@given(JSON_VALUES)
def test_whole_template_returns_value(value: Any) -> None:
    rendered = parse_template("{{ input.value }}").render({"input": {"value": value}})
    assert rendered is value


@given(
    JSON_VALUES, st.text(min_size=1, max_size=10).filter(lambda text: "{" not in text)
)
def test_interpolation_text(value: Any, prefix: str) -> None:
    rendered = parse_template(prefix + "{{ input.v }}").render({"input": {"v": value}})
    expected = (
        value
        if isinstance(value, str)
        else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    )
    assert rendered == prefix + expected


@given(st.text(max_size=30))
def test_string_literal_round_trip(text: str) -> None:
    literal = json.dumps(text)
    condition = parse_condition(f"input.s == {literal}")
    assert condition.evaluate({"input": {"s": text}}) is True
    assert parse_template("{{ " + literal + " }}").render({}) == text


@given(st.integers(-(10**20), 10**20), st.integers(-(10**20), 10**20))
def test_number_comparisons_match_python(left: int, right: int) -> None:
    context = {"input": {"a": left, "b": right}}
    for operator, expected in (
        ("<", left < right),
        ("<=", left <= right),
        (">", left > right),
        (">=", left >= right),
        ("==", left == right),
        ("!=", left != right),
    ):
        condition = parse_condition(f"input.a {operator} {right}")
        assert condition.evaluate(context) is expected


@settings(max_examples=300)
@given(
    st.text(
        alphabet=st.sampled_from(list("input.tasks[]'\"{} ()=<>!-0123anot,\\")),
        max_size=40,
    )
)
def test_parsers_raise_only_expression_errors(text: str) -> None:
    for parse in (parse_path, parse_template, parse_condition):
        try:
            parse(text)
        except ExpressionError as error:
            assert error.text == text
            assert error.position is not None
            assert 0 <= error.position <= len(text)


@given(st.text(max_size=40))
def test_parsers_accept_any_text_safely(text: str) -> None:
    for parse in (parse_path, parse_template, parse_condition):
        with contextlib.suppress(ExpressionError):
            parse(text)
