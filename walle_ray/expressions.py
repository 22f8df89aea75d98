"""Paths, templates and conditions used in workflow specs.

Nothing here evaluates Python: every expression is parsed by a small
recursive-descent parser into immutable nodes, and evaluating a node only
looks values up in a context mapping and compares them.

Paths name a value in the context. They contain no spaces::

    path   = root { "." key | "[" index "]" | "[" string "]" }
    root   = "input" | "tasks" | "item" | "index" | "execution"
    key    = ( letter | digit | "_" ) { letter | digit | "_" | "-" }
    index  = [ "-" ] digits          (negative indices count from the end)

``tasks`` must be followed by a task name (``tasks.build.output``, or
``tasks["my.task"].output`` for a name that is not a key). ``index`` is a
number and takes no keys. Keys that are not ``key`` words go in brackets:
``input["a b"]``.

Templates are strings with ``{{ value }}`` placeholders, where ``value`` is a
path or a literal (string, number, ``true``, ``false``, ``null``). Spaces
inside the braces are optional, and ``{{ "{{" }}`` writes literal braces.
A string that is exactly one placeholder renders to the value itself with
its JSON type. Otherwise each placeholder is replaced by its text: strings
as they are, other values as compact JSON.

Conditions evaluate to a boolean::

    condition  = and { "or" and }
    and        = not { "and" not }
    not        = "not" not | comparison
    comparison = operand [ operator operand ]
    operator   = "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in"
    operand    = path | literal | list | "(" condition ")"
               | "{{" condition "}}"
    literal    = number | string | "true" | "false" | "null"
    list       = "[" [ operand { "," operand } [ "," ] ] "]"
    string     = '"' ... '"' | "'" ... "'"   (JSON escapes, e.g. \\n, \\u00e9)

``not x == y`` means ``not (x == y)``, as in Python. ``and`` and ``or``
short-circuit and use JSON truthiness: ``false``, ``null``, ``0``, ``""``,
``[]`` and ``{}`` are false. ``==`` between values of different JSON types
is false (``1 == true`` too), while ``<``, ``<=``, ``>`` and ``>=`` need two
numbers or two strings. ``in`` tests membership in a list, a substring of a
string, or a key of an object. Comparisons do not chain.

Every error is an ``ExpressionError`` carrying the text and the 0-based
position where they are known.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from walle_ray.errors import WalleError

__all__ = [
    "ROOTS",
    "Condition",
    "ExpressionError",
    "Path",
    "PathPart",
    "Template",
    "parse_condition",
    "parse_path",
    "parse_template",
    "render_value",
    "resolve",
    "template_paths",
]

ROOTS = ("input", "tasks", "item", "index", "execution")

# Parentheses, braces, list brackets and `not` each add one level. The limit
# keeps parsing and evaluation far below Python's recursion limit.
MAX_DEPTH = 50

PathPart: TypeAlias = str | int

_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_KEY_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
)
_NUMBER_FOLLOWERS = _KEY_CHARS | {"."}
_DIGITS = frozenset("0123456789")
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_INDEX = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_STRING_CHUNK = {'"': re.compile(r'[^"\\]*'), "'": re.compile(r"[^'\\]*")}
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_KEYWORDS = frozenset({"and", "or", "not", "in"})
_LITERAL_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}
_PYTHON_WORDS = {"True": "true", "False": "false", "None": "null"}
_SYMBOL_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_WRONG_OPERATORS = {
    "&&": "use 'and' instead of '&&'",
    "||": "use 'or' instead of '||'",
    "=": "use '==' to test equality",
    "!": "use 'not' instead of '!'",
}
_EXCERPT_WIDTH = 60


class ExpressionError(WalleError, ValueError):
    """An invalid path, template or condition, or one that failed to evaluate.

    ``text`` is the expression and ``position`` the 0-based offset of the
    problem in it, when known. ``location`` is where in a nested value the
    failing string sits, as keys and indices, for errors raised by
    ``render_value`` and ``template_paths``.
    """

    def __init__(
        self,
        message: str,
        text: str | None = None,
        position: int | None = None,
        location: tuple[PathPart, ...] = (),
    ) -> None:
        super().__init__(message)
        self.text = text
        self.position = position
        self.location = location

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the attributes when the error crosses a process boundary.
        return (
            type(self),
            (str(self), self.text, self.position, self.location),
        )


@dataclass(frozen=True, slots=True)
class Path:
    """A reference to a value in the context: a root name and its keys."""

    root: str
    parts: tuple[PathPart, ...] = ()

    def __str__(self) -> str:
        return self.root + _format_parts(self.parts)

    @property
    def task(self) -> str | None:
        """Name of the task a ``tasks.NAME...`` path refers to, else None."""
        if self.root == "tasks" and self.parts and isinstance(self.parts[0], str):
            return self.parts[0]
        return None


def _format_parts(parts: Sequence[PathPart]) -> str:
    pieces = []
    for part in parts:
        if isinstance(part, int):
            pieces.append(f"[{part}]")
        elif _KEY.fullmatch(part):
            pieces.append(f".{part}")
        else:
            pieces.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(pieces)


def _format_location(location: Sequence[PathPart]) -> str:
    return _format_parts(location).removeprefix(".")


def _excerpt(text: str, position: int) -> str:
    if len(text) <= _EXCERPT_WIDTH:
        return repr(text)
    start = max(0, position - _EXCERPT_WIDTH // 2)
    end = min(len(text), start + _EXCERPT_WIDTH)
    before = "..." if start > 0 else ""
    after = "..." if end < len(text) else ""
    return f"{before}{text[start:end]!r}{after}"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _describe(value: Any) -> str:
    """Type and a short JSON preview of a value, for error messages."""
    if value is None:
        return "null"
    try:
        preview = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        preview = repr(value)
    if len(preview) > 40:
        preview = preview[:37] + "..."
    return f"{_type_name(value)} {preview}"


# --------------------------------------------------------------------------
# Evaluation nodes


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any

    def evaluate(self, context: Mapping[str, Any], text: str) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class _PathRef:
    path: Path
    position: int

    def evaluate(self, context: Mapping[str, Any], text: str) -> Any:
        try:
            return resolve(self.path, context)
        except ExpressionError as error:
            raise ExpressionError(str(error), text, self.position) from None


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple[_Node, ...]

    def evaluate(self, context: Mapping[str, Any], text: str) -> Any:
        return [item.evaluate(context, text) for item in self.items]


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node

    def evaluate(self, context: Mapping[str, Any], text: str) -> Any:
        return not self.operand.evaluate(context, text)


@dataclass(frozen=True, slots=True)
class _And:
    operands: tuple[_Node, ...]

    def evaluate(self, context: Mapping[str, Any], text: str) -> Any:
        return all(operand.evaluate(context, text) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class _Or:
    operands: tuple[_Node, ...]

    def evaluate(self, context: Mapping[str, Any], text: str) -> Any:
        return any(operand.evaluate(context, text) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class _Compare:
    operator: str
    left: _Node
    right: _Node
    position: int

    def evaluate(self, context: Mapping[str, Any], text: str) -> Any:
        left = self.left.evaluate(context, text)
        right = self.right.evaluate(context, text)
        operator = self.operator
        if operator == "==":
            return _json_equal(left, right)
        if operator == "!=":
            return not _json_equal(left, right)
        if operator == "in":
            return self._contains(right, left, text)
        if operator == "not in":
            return not self._contains(right, left, text)
        return self._order(left, right, text)

    def _order(self, left: Any, right: Any, text: str) -> bool:
        both_numbers = _is_number(left) and _is_number(right)
        both_strings = isinstance(left, str) and isinstance(right, str)
        if not (both_numbers or both_strings):
            raise ExpressionError(
                f"cannot compare {_describe(left)} with {_describe(right)} "
                f"using '{self.operator}': both sides must be numbers or both "
                "strings",
                text,
                self.position,
            )
        if self.operator == "<":
            return bool(left < right)
        if self.operator == "<=":
            return bool(left <= right)
        if self.operator == ">":
            return bool(left > right)
        return bool(left >= right)

    def _contains(self, container: Any, item: Any, text: str) -> bool:
        if isinstance(container, str):
            if not isinstance(item, str):
                raise ExpressionError(
                    f"'{self.operator}' with a string on the right needs a string "
                    f"on the left, got {_describe(item)}",
                    text,
                    self.position,
                )
            return item in container
        if isinstance(container, list | tuple):
            return any(_json_equal(item, element) for element in container)
        if isinstance(container, Mapping):
            if not isinstance(item, str):
                raise ExpressionError(
                    f"'{self.operator}' with an object on the right tests its keys, "
                    f"which are strings, got {_describe(item)}",
                    text,
                    self.position,
                )
            return item in container
        raise ExpressionError(
            f"'{self.operator}' needs a list, string or object on the right, "
            f"got {_describe(container)}",
            text,
            self.position,
        )


_Node: TypeAlias = _Literal | _PathRef | _List | _Not | _And | _Or | _Compare


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_equal(left: Any, right: Any) -> bool:
    """Compare like JSON values: a boolean never equals a number."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            _json_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(
            _json_equal(value, right[key]) for key, value in left.items()
        )
    return False


# --------------------------------------------------------------------------
# Parsing


class _Parser:
    """Scanner and recursive-descent parser over one text.

    ``kind`` (path, template or condition) names the text in error messages.
    """

    def __init__(self, text: str, kind: str) -> None:
        self.text = text
        self.kind = kind
        self.pos = 0
        self.depth = 0
        self.in_braces = False
        self.paths: list[Path] = []

    def error(self, detail: str, position: int | None = None) -> ExpressionError:
        at = self.pos if position is None else position
        return ExpressionError(
            f"invalid {self.kind} {_excerpt(self.text, at)} at column {at + 1}: "
            f"{detail}",
            self.text,
            at,
        )

    def skip_whitespace(self) -> None:
        match = _WHITESPACE.match(self.text, self.pos)
        assert match is not None  # the pattern also matches the empty string
        self.pos = match.end()

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def next_char(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def describe_next(self) -> str:
        if self.at_end():
            return f"the end of the {self.kind}"
        return repr(self.text[self.pos : self.pos + 10])

    def enter(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"nested more than {MAX_DEPTH} levels deep: split the expression",
                position,
            )

    def leave(self) -> None:
        self.depth -= 1

    def match_word(self, word: str) -> bool:
        match = _KEY.match(self.text, self.pos)
        if match is not None and match.group() == word:
            self.pos = match.end()
            return True
        return False

    # Paths

    def parse_path(self, root: str, start: int) -> Path:
        """Parse the keys after ``root``, which ends at ``self.pos``."""
        if root not in ROOTS:
            raise self.error(_unknown_root(root), start)
        parts: list[PathPart] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == ".":
                match = _KEY.match(text, self.pos + 1)
                if match is None:
                    raise self.error(
                        "expected a key after '.': write other keys in brackets, "
                        'as in input["a b"]',
                        self.pos + 1,
                    )
                parts.append(match.group())
                self.pos = match.end()
            elif char == "[":
                parts.append(self.parse_bracket())
            else:
                break
        if root == "index" and parts:
            raise self.error("'index' is a number and takes no keys", start)
        if root == "tasks":
            if not parts:
                raise self.error(
                    "name a task after 'tasks', as in tasks.NAME.output", start
                )
            if not isinstance(parts[0], str):
                raise self.error(
                    'a task name is a string: write tasks.NAME or tasks["NAME"]',
                    start,
                )
        return Path(root, tuple(parts))

    def parse_bracket(self) -> PathPart:
        self.pos += 1  # "["
        self.skip_whitespace()
        part: PathPart
        if self.next_char() in ("'", '"'):
            part = self.parse_string()
        else:
            match = _INDEX.match(self.text, self.pos)
            if match is None:
                raise self.error(
                    "expected an integer index or a quoted key inside '[ ]', "
                    'as in items[0] or input["a b"]'
                )
            part = self.to_int(match.group(), self.pos)
            self.pos = match.end()
        self.skip_whitespace()
        if self.next_char() != "]":
            raise self.error(f"expected ']' but found {self.describe_next()}")
        self.pos += 1
        if self.next_char() in _KEY_CHARS:
            raise self.error("expected '.', '[' or the end of the path after ']'")
        return part

    def to_int(self, digits: str, position: int) -> int:
        try:
            return int(digits)
        except ValueError:  # more digits than int() converts
            raise self.error("number too long", position) from None

    # Literals

    def parse_string(self) -> str:
        text = self.text
        start = self.pos
        quote = text[start]
        chunk = _STRING_CHUNK[quote]
        pieces: list[str] = []
        self.pos += 1
        while True:
            match = chunk.match(text, self.pos)
            assert match is not None  # the pattern also matches the empty string
            pieces.append(match.group())
            self.pos = match.end()
            if self.at_end():
                raise self.error(f"unterminated string: close it with {quote}", start)
            if text[self.pos] == quote:
                self.pos += 1
                return "".join(pieces)
            pieces.append(self.parse_escape())

    def parse_escape(self) -> str:
        start = self.pos
        code = self.text[self.pos + 1 : self.pos + 2]
        if code in _ESCAPES:
            self.pos += 2
            return _ESCAPES[code]
        if code != "u":
            raise self.error(
                f"invalid escape '\\{code}' in a string: write a backslash as '\\\\'",
                start,
            )
        value = self.parse_hex(self.pos + 2)
        if 0xD800 <= value < 0xDC00 and self.text.startswith("\\u", self.pos):
            low = self.parse_hex(self.pos + 2)
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00))
            return chr(value) + chr(low)
        return chr(value)

    def parse_hex(self, position: int) -> int:
        match = _HEX4.match(self.text, position)
        if match is None:
            raise self.error(r"expected 4 hex digits after '\u'", position)
        self.pos = match.end()
        return int(match.group(), 16)

    def parse_number(self) -> int | float:
        start = self.pos
        match = _NUMBER.match(self.text, start)
        if match is None:
            raise self.error("expected a number after '-'", start)
        self.pos = match.end()
        if self.next_char() in _NUMBER_FOLLOWERS:
            raise self.error(
                f"invalid number {self.text[start : self.pos + 1]!r}: "
                "quote text as a string",
                start,
            )
        if match.group(1) is None and match.group(2) is None:
            return self.to_int(match.group(), start)
        number = float(match.group())
        if not math.isfinite(number):
            raise self.error("number out of range", start)
        return number

    def parse_atom(self) -> _Literal | _PathRef:
        """Parse a string, number, true, false, null or path."""
        start = self.pos
        char = self.next_char()
        if char in ("'", '"'):
            return _Literal(self.parse_string())
        if char == "-" or char in _DIGITS:
            return _Literal(self.parse_number())

        match = _KEY.match(self.text, start)
        if match is None:
            raise self.error(
                f"expected a path or a literal but found {self.describe_next()}"
            )
        word = match.group()
        self.pos = match.end()

        if word in _LITERAL_WORDS:
            return _Literal(_LITERAL_WORDS[word])
        if word in _KEYWORDS:
            raise self.error(f"expected a value before '{word}'", start)
        if word in _PYTHON_WORDS:
            raise self.error(
                f"unknown name {word!r}: write {_PYTHON_WORDS[word]}", start
            )
        if word not in ROOTS:
            raise self.error(
                f"{_unknown_root(word)}, and text needs quotes, as in '{word}'",
                start,
            )

        path = self.parse_path(word, start)
        self.paths.append(path)
        return _PathRef(path, start)

    # Conditions

    def parse_condition(self) -> _Node:
        operands = self.parse_joined("or", self.parse_and)
        return operands[0] if len(operands) == 1 else _Or(operands)

    def parse_and(self) -> _Node:
        operands = self.parse_joined("and", self.parse_not)
        return operands[0] if len(operands) == 1 else _And(operands)

    def parse_joined(
        self, keyword: str, parse_operand: Callable[[], _Node]
    ) -> tuple[_Node, ...]:
        """Parse operands separated by ``keyword`` in a loop, not by recursion."""
        operands = [parse_operand()]
        while True:
            self.skip_whitespace()
            if not self.match_word(keyword):
                return tuple(operands)
            operands.append(parse_operand())

    def parse_not(self) -> _Node:
        self.skip_whitespace()
        start = self.pos
        if not self.match_word("not"):
            return self.parse_comparison()
        self.enter(start)
        operand = self.parse_not()
        self.leave()
        return _Not(operand)

    def parse_comparison(self) -> _Node:
        left = self.parse_operand()
        self.skip_whitespace()
        position = self.pos
        operator = self.match_operator()
        if operator is None:
            return left
        right = self.parse_operand()
        self.skip_whitespace()
        chained = self.pos
        if self.match_operator() is not None:
            raise self.error(
                "comparisons do not chain: join them with 'and', as in a < b and b < c",
                chained,
            )
        return _Compare(operator, left, right, position)

    def match_operator(self) -> str | None:
        for symbol in _SYMBOL_OPERATORS:
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return symbol
        for wrong, advice in _WRONG_OPERATORS.items():
            if self.text.startswith(wrong, self.pos):
                raise self.error(advice)
        if self.match_word("in"):
            return "in"
        start = self.pos
        if self.match_word("not"):
            self.skip_whitespace()
            if self.match_word("in"):
                return "not in"
            self.pos = start
        return None

    def parse_operand(self) -> _Node:
        self.skip_whitespace()
        start = self.pos
        if self.at_end():
            raise self.error(f"expected a value but the {self.kind} ends here")
        char = self.next_char()
        if self.text.startswith("{{", start):
            return self.parse_braces()
        if char == "(":
            self.pos += 1
            self.enter(start)
            node = self.parse_condition()
            self.expect(")", f"to close '(' at column {start + 1}")
            self.leave()
            return node
        if char == "[":
            return self.parse_list()
        return self.parse_atom()

    def parse_braces(self) -> _Node:
        start = self.pos
        if self.in_braces:
            raise self.error("placeholders cannot be nested", start)
        self.pos += 2
        self.enter(start)
        self.in_braces = True
        node = self.parse_condition()
        self.expect("}}", f"to close '{{{{' at column {start + 1}")
        self.in_braces = False
        self.leave()
        return node

    def parse_list(self) -> _List:
        start = self.pos
        self.pos += 1
        self.enter(start)
        items: list[_Node] = []
        while True:
            self.skip_whitespace()
            if self.next_char() == "]":
                break
            items.append(self.parse_operand())
            self.skip_whitespace()
            if self.next_char() != ",":
                break
            self.pos += 1
        self.expect("]", f"or ',' in the list opened at column {start + 1}")
        self.leave()
        return _List(tuple(items))

    def expect(self, token: str, purpose: str) -> None:
        self.skip_whitespace()
        if not self.text.startswith(token, self.pos):
            raise self.error(
                f"expected '{token}' {purpose} but found {self.describe_next()}"
            )
        self.pos += len(token)


def _unknown_root(word: str) -> str:
    close = difflib.get_close_matches(word, ROOTS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown name {word!r}{hint}: paths start with {', '.join(ROOTS)}"


# --------------------------------------------------------------------------
# Paths


@functools.lru_cache(maxsize=4096)
def parse_path(text: str) -> Path:
    """Parse a path such as ``tasks.fetch.output.items[0]``.

    Raises ``ExpressionError`` when the text is not exactly one path.
    """
    parser = _Parser(text, "path")
    match = _KEY.match(text)
    if match is None:
        raise parser.error(f"a path starts with one of {', '.join(ROOTS)}", 0)
    parser.pos = match.end()
    path = parser.parse_path(match.group(), 0)
    if not parser.at_end():
        raise parser.error(
            f"unexpected {parser.describe_next()} after the path: join keys with "
            "'.' and put other keys in brackets, as in input[\"a b\"]"
        )
    return path


def resolve(path: Path | str, context: Mapping[str, Any]) -> Any:
    """Look up ``path`` in ``context``, a mapping from root names to values.

    Returns the value itself, not a copy. Raises ``ExpressionError`` naming
    the first key or index that is missing, or that does not fit the type of
    the value it applies to.
    """
    if isinstance(path, str):
        path = parse_path(path)
    if path.root not in context:
        available = ", ".join(repr(name) for name in context) or "nothing"
        raise ExpressionError(
            f"path '{path}' not found: {path.root!r} is not available here "
            f"(available: {available})",
            str(path),
            0,
        )
    value = context[path.root]
    for count, part in enumerate(path.parts):
        if isinstance(part, str) and isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(part, int) and isinstance(value, list | tuple):
            if -len(value) <= part < len(value):
                value = value[part]
            else:
                raise _lookup_error(path, count, value)
        else:
            raise _lookup_error(path, count, value)
    return value


def _lookup_error(path: Path, count: int, value: Any) -> ExpressionError:
    """Build the error for ``path.parts[count]`` failing on ``value``."""
    part = path.parts[count]
    prefix = Path(path.root, path.parts[:count])
    kind = _type_name(value)
    if isinstance(part, str) and isinstance(value, Mapping):
        reason = f"object '{prefix}' has no key {part!r}{_key_hint(value, part)}"
        heading = "not found"
    elif isinstance(part, int) and isinstance(value, list | tuple):
        size = f"has {len(value)} items" if value else "is empty"
        reason = f"list '{prefix}' {size}"
        heading = "not found"
    elif isinstance(part, str) and isinstance(value, list | tuple):
        example = part if part.lstrip("-").isdigit() else "0"
        reason = (
            f"'{prefix}' is a list, so it has no key {part!r}: index it as "
            f"{prefix}[{example}]"
        )
        heading = "cannot be resolved"
    elif isinstance(part, int) and isinstance(value, Mapping):
        reason = (
            f"'{prefix}' is an object, so it has no index [{part}]: "
            f'write {prefix}["{part}"] for the key "{part}"'
        )
        heading = "cannot be resolved"
    else:
        accessor = f"key {part!r}" if isinstance(part, str) else f"index [{part}]"
        if value is not None:
            kind = f"a {kind}"
        reason = f"'{prefix}' is {kind}, so it has no {accessor}"
        heading = "cannot be resolved"
    return ExpressionError(
        f"path '{path}' {heading}: {reason}", str(path), len(str(prefix))
    )


def _key_hint(mapping: Mapping[Any, Any], key: str) -> str:
    keys = [name for name in mapping if isinstance(name, str)]
    if not keys:
        return " (it is empty)"
    if len(keys) <= 1000:
        close = difflib.get_close_matches(key, keys, n=1)
        if close:
            return f" (did you mean {close[0]!r}?)"
    listed = ", ".join(repr(name) for name in keys[:10])
    more = f" and {len(keys) - 10} more" if len(keys) > 10 else ""
    return f" (keys: {listed}{more})"


# --------------------------------------------------------------------------
# Templates


@dataclass(frozen=True, slots=True)
class _Placeholder:
    node: _Literal | _PathRef
    start: int


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal text and ``{{ value }}`` placeholders.

    ``paths`` lists each distinct path in the order it first appears.
    """

    text: str
    segments: tuple[str | _Placeholder, ...]
    paths: tuple[Path, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        found = (
            segment.node.path
            for segment in self.segments
            if isinstance(segment, _Placeholder) and isinstance(segment.node, _PathRef)
        )
        object.__setattr__(self, "paths", tuple(dict.fromkeys(found)))

    @property
    def is_static(self) -> bool:
        """True when the template has no placeholders."""
        return not any(isinstance(s, _Placeholder) for s in self.segments)

    @property
    def is_single(self) -> bool:
        """True when the text is exactly one placeholder.

        ``render`` then returns the value with its JSON type, not a string.
        """
        return len(self.segments) == 1 and isinstance(self.segments[0], _Placeholder)

    def render_placeholders(self, replacement: str) -> str:
        """Return the text with every placeholder replaced by ``replacement``.

        Useful to check the literal parts of a template, such as a URL.
        """
        return "".join(
            replacement if isinstance(segment, _Placeholder) else segment
            for segment in self.segments
        )

    def render(self, context: Mapping[str, Any]) -> Any:
        """Render the template against ``context``.

        Returns the value itself when the text is exactly one placeholder,
        else a string. Raises ``ExpressionError`` when a path is not found.
        """
        segments = self.segments
        if len(segments) == 1:
            only = segments[0]
            if isinstance(only, str):
                return only
            return only.node.evaluate(context, self.text)
        pieces = []
        for segment in segments:
            if isinstance(segment, str):
                pieces.append(segment)
            else:
                pieces.append(_to_text(segment.node.evaluate(context, self.text)))
        return "".join(pieces)


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


@functools.lru_cache(maxsize=4096)
def parse_template(text: str) -> Template:
    """Parse a template string. Raises ``ExpressionError`` when malformed."""
    parser = _Parser(text, "template")
    segments: list[str | _Placeholder] = []
    literal_start = 0
    while True:
        start = text.find("{{", literal_start)
        if start < 0:
            break
        if start > literal_start:
            segments.append(text[literal_start:start])
        parser.pos = start + 2
        parser.skip_whitespace()
        if text.startswith("}}", parser.pos):
            raise parser.error(
                "empty placeholder: put a path inside, as in {{ input.name }}", start
            )
        if parser.at_end():
            raise parser.error("'{{' is not closed: add '}}'", start)
        node = parser.parse_atom()
        parser.skip_whitespace()
        if not text.startswith("}}", parser.pos):
            if text.find("}}", parser.pos) < 0:
                raise parser.error("'{{' is not closed: add '}}'", start)
            raise parser.error(
                f"expected '}}}}' but found {parser.describe_next()}: a placeholder "
                'contains one path or literal, as in {{ input.name }} or {{ "{{" }}'
            )
        segments.append(_Placeholder(node, start))
        literal_start = parser.pos + 2
    if literal_start < len(text) or not segments:
        segments.append(text[literal_start:])
    return Template(text, tuple(segments))


_Walker: TypeAlias = Callable[[Any, Any], Any]


def template_paths(value: Any) -> list[Path]:
    """List the distinct paths used by every template string in ``value``.

    ``value`` is a JSON value: dictionaries and lists are walked, and only
    their values are templates, not their keys. Raises ``ExpressionError``
    for the first malformed template, with its ``location`` in ``value``.
    """
    found: dict[Path, None] = {}
    _with_location(_collect_paths, value, found)
    return list(found)


def _collect_paths(value: Any, found: dict[Path, None]) -> None:
    if isinstance(value, str):
        if "{{" in value:
            found.update(dict.fromkeys(parse_template(value).paths))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _at(key, _collect_paths, item, found)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _at(index, _collect_paths, item, found)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every template string in a nested JSON value.

    Returns a new structure and leaves ``value`` unchanged, but values taken
    from ``context`` by whole-string placeholders are not copied. Raises
    ``ExpressionError`` for the first failing string, with its ``location``.
    """
    return _with_location(_render, value, context)


def _render(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        if "{{" not in value:
            return value
        return parse_template(value).render(context)
    if isinstance(value, Mapping):
        return {key: _at(key, _render, item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_at(index, _render, item, context) for index, item in enumerate(value)]
    return value


def _at(key: Any, function: _Walker, value: Any, argument: Any) -> Any:
    """Call ``function(value, argument)``, adding ``key`` to any error location."""
    try:
        return function(value, argument)
    except ExpressionError as error:
        part = key if isinstance(key, int) else str(key)
        error.location = (part, *error.location)
        raise


def _with_location(function: _Walker, value: Any, argument: Any) -> Any:
    try:
        return function(value, argument)
    except ExpressionError as error:
        if not error.location:
            raise
        where = _format_location(error.location)
        raise ExpressionError(
            f"at '{where}': {error}", error.text, error.position, error.location
        ) from None


# --------------------------------------------------------------------------
# Conditions


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition. ``paths`` lists each distinct path once, in order."""

    text: str
    paths: tuple[Path, ...]
    node: _Node = field(repr=False)

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        """Evaluate against ``context``.

        Raises ``ExpressionError`` when a path is not found or an ordering
        compares values of different types.
        """
        try:
            return bool(self.node.evaluate(context, self.text))
        except RecursionError:
            raise ExpressionError(
                f"condition {_excerpt(self.text, 0)} compares values nested too "
                "deeply to evaluate",
                self.text,
            ) from None


@functools.lru_cache(maxsize=4096)
def parse_condition(text: str) -> Condition:
    """Parse a condition. Raises ``ExpressionError`` when malformed."""
    parser = _Parser(text, "condition")
    parser.skip_whitespace()
    if parser.at_end():
        raise parser.error(
            "empty condition: write one such as input.count > 0", parser.pos
        )
    node = parser.parse_condition()
    parser.skip_whitespace()
    if not parser.at_end():
        raise parser.error(
            f"unexpected {parser.describe_next()}: expected an operator, 'and', "
            "'or' or the end of the condition"
        )
    return Condition(text, tuple(dict.fromkeys(parser.paths)), node)
