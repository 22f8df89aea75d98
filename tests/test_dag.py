"""DAG orders, levels and critical path, without Ray."""

from __future__ import annotations

import pytest

from walle_ray.dag import Dag, find_cycle

EXAMPLE = {
    "task-1": [],
    "task-2": [],
    "task-3": ["task-1", "task-2"],
    "task-4": ["task-1"],
}
EXAMPLE_MS = {"task-1": 50, "task-2": 300, "task-3": 100, "task-4": 200}


def test_topological_order_keeps_declaration_ties() -> None:
    assert Dag.build(EXAMPLE).order == ("task-1", "task-2", "task-3", "task-4")


def test_order_respects_dependencies() -> None:
    dag = Dag.build({"c": ["b"], "b": ["a"], "a": []})
    assert dag.order == ("a", "b", "c")


def test_levels() -> None:
    assert Dag.build(EXAMPLE).levels() == [["task-1", "task-2"], ["task-3", "task-4"]]


def test_level_is_longest_path() -> None:
    dag = Dag.build({"a": [], "b": ["a"], "c": ["a", "b"]})
    assert dag.levels() == [["a"], ["b"], ["c"]]


def test_critical_path_of_example() -> None:
    length, path = Dag.build(EXAMPLE).critical_path(EXAMPLE_MS)
    assert length == 400
    assert path == ["task-2", "task-3"]


def test_ideal_makespans_of_example() -> None:
    ideal = Dag.build(EXAMPLE).ideal_makespans(EXAMPLE_MS)
    assert ideal == {"sync": 650, "batch": 500, "full": 400}


def test_roots_leaves_downstream() -> None:
    dag = Dag.build(EXAMPLE)
    assert dag.roots == ["task-1", "task-2"]
    assert dag.leaves == ["task-3", "task-4"]
    assert dag.downstream("task-1") == {"task-3", "task-4"}
    assert dag.downstream("task-3") == set()


def test_cycle_found_in_run_order() -> None:
    assert find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]}) == ["a", "b", "c", "a"]


def test_no_cycle() -> None:
    assert find_cycle(EXAMPLE) is None


def test_build_rejects_cycle_and_unknown() -> None:
    with pytest.raises(ValueError, match="cycle"):
        Dag.build({"a": ["b"], "b": ["a"]})
    with pytest.raises(ValueError, match="unknown task 'x'"):
        Dag.build({"a": ["x"]})


def test_long_chain_needs_no_recursion() -> None:
    chain = {f"t{i}": [f"t{i - 1}"] if i else [] for i in range(20_000)}
    dag = Dag.build(chain)
    assert len(dag.levels()) == 20_000
    length, path = dag.critical_path(dict.fromkeys(chain, 1.0))
    assert length == 20_000
    assert path[-1] == "t19999"


def test_empty_durations_weigh_zero() -> None:
    assert Dag.build(EXAMPLE).critical_path({})[0] == 0.0
