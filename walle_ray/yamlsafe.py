"""Safe YAML loading that rejects alias bombs and duplicate keys.

Documents are first composed into node graphs, which share aliased nodes
instead of copying them. The size a document would reach once its aliases
expand is computed on that graph, with memoization, and a document over the
limit is rejected before any Python object is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

# A workflow of 10,000 tasks with headers and bodies expands to a few hundred
# thousand nodes; the limit leaves room for larger bodies while stopping
# documents built to expand exponentially.
MAX_EXPANDED_NODES = 5_000_000


class YamlLoadError(ValueError):
    """A YAML text could not be loaded; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None, document: int = 0):
        super().__init__(message)
        self.message = message
        self.line = line
        self.document = document


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """One loaded document: its data and the node graph it came from."""

    data: Any
    node: Node
    index: int


def load_documents(text: str) -> list[YamlDocument]:
    """Load every document of a YAML stream, in order.

    Raises ``YamlLoadError`` on a syntax error, a recursive alias, a
    document whose aliases expand past ``MAX_EXPANDED_NODES`` nodes, nesting
    too deep to build, or a mapping with a duplicate key.
    """
    loader = _Loader(text)
    documents: list[YamlDocument] = []
    try:
        while True:
            index = len(documents)
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                line = mark.line + 1 if mark is not None else None
                problem = exc.problem or str(exc)
                raise YamlLoadError(f"invalid YAML: {problem}", line, index) from None
            except yaml.YAMLError as exc:
                raise YamlLoadError(f"invalid YAML: {exc}", None, index) from None
            if node is None:
                continue
            builder = _Builder(loader, index)
            try:
                data, _ = builder.build(node)
            except RecursionError:
                raise YamlLoadError(
                    "YAML nesting is too deep: flatten the document",
                    node.start_mark.line + 1,
                    index,
                ) from None
            documents.append(YamlDocument(data=data, node=node, index=index))
    finally:
        loader.dispose()
    return documents


_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Builder:
    """Build Python data from a node graph while checking it.

    One pass checks for recursive aliases, duplicate keys and the expanded
    size, and builds plain strings, lists and dicts directly, which is several
    times faster than PyYAML's constructor on large specs. Other scalars and
    uncommon nodes (merge keys, explicit tags) go through PyYAML's safe
    constructor. Aliased nodes are built once and shared, as PyYAML does.
    """

    def __init__(self, loader: Any, document: int) -> None:
        self._loader = loader
        self._document = document
        self._done: dict[int, tuple[Any, int]] = {}
        self._on_path: set[int] = set()

    def _error(self, message: str, node: Node) -> YamlLoadError:
        return YamlLoadError(message, node.start_mark.line + 1, self._document)

    def build(self, node: Node) -> tuple[Any, int]:
        """Return the node's value and its node count once aliases expand."""
        key = id(node)
        done = self._done.get(key)
        if done is not None:
            return done
        if isinstance(node, ScalarNode):
            if node.tag == _STR_TAG:
                result: tuple[Any, int] = (node.value, 1)
            else:
                result = (self._construct(node), 1)
            self._done[key] = result
            return result
        if key in self._on_path:
            raise self._error("recursive YAML alias: a node contains itself", node)
        self._on_path.add(key)
        if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
            items = []
            size = 1
            for child in node.value:
                value, child_size = self.build(child)
                items.append(value)
                size += child_size
            result = (items, size)
        elif (
            isinstance(node, MappingNode)
            and node.tag == _MAP_TAG
            and not any(key_node.tag == _MERGE_TAG for key_node, _ in node.value)
        ):
            result = self._build_mapping(node)
        else:
            size = 1 + sum(self._size(child) for child in _children(node))
            result = (self._construct(node), size)
        self._on_path.discard(key)
        if result[1] > MAX_EXPANDED_NODES:
            raise self._error(
                f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes: "
                "write the values out or use fewer nested aliases",
                node,
            )
        self._done[key] = result
        return result

    def _size(self, node: Node) -> int:
        """Count the nodes under ``node`` once aliases expand, building nothing."""
        key = id(node)
        done = self._done.get(key)
        if done is not None:
            return done[1]
        if isinstance(node, ScalarNode):
            return 1
        if key in self._on_path:
            raise self._error("recursive YAML alias: a node contains itself", node)
        self._on_path.add(key)
        size = 1 + sum(self._size(child) for child in _children(node))
        self._on_path.discard(key)
        if size > MAX_EXPANDED_NODES:
            raise self._error(
                f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes: "
                "write the values out or use fewer nested aliases",
                node,
            )
        return size

    def _construct(self, node: Node) -> Any:
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark or node.start_mark
            raise YamlLoadError(
                f"invalid YAML: {exc.problem or exc}", mark.line + 1, self._document
            ) from None

    def _build_mapping(self, node: MappingNode) -> tuple[dict[Any, Any], int]:
        mapping: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        size = 1
        for key_node, value_node in node.value:
            key, key_size = self.build(key_node)
            value, value_size = self.build(value_node)
            size += key_size + value_size
            try:
                duplicate = key in mapping
            except TypeError:
                raise self._error(
                    "a mapping key must be a scalar such as a string", key_node
                ) from None
            line = key_node.start_mark.line + 1
            if duplicate:
                raise YamlLoadError(
                    f"duplicate key '{key}' (first on line {first_line[key]}): "
                    "keep one of them",
                    line,
                    self._document,
                )
            mapping[key] = value
            first_line[key] = line
        return mapping, size


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, SequenceNode):
        yield from node.value
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value


def locate_line(node: Node | None, path: tuple[str | int, ...]) -> int | None:
    """Return the 1-based line of the deepest node reached along ``path``.

    A path such as ``("tasks", 3, "depends")`` walks mappings by key and
    sequences by index, and stops early where the path leaves the document;
    for a mapping key the line of the key itself is returned.
    """
    if node is None:
        return None
    line = node.start_mark.line + 1
    current: Node | None = node
    for part in path:
        if isinstance(part, int) and isinstance(current, SequenceNode):
            if not 0 <= part < len(current.value):
                break
            current = current.value[part]
        elif isinstance(part, str) and isinstance(current, MappingNode):
            found = None
            for key_node, value_node in current.value:
                if isinstance(key_node, ScalarNode) and key_node.value == part:
                    found = (key_node, value_node)
                    break
            if found is None:
                break
            line = found[0].start_mark.line + 1
            current = found[1]
            continue
        else:
            break
        line = current.start_mark.line + 1
    return line
