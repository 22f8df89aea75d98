"""Random DAGs with random outcomes end consistent with their rules, in every mode."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walle_ray.engine import run_workflow
from walle_ray.invoker import InvokerPool
from walle_ray.results import ExecutionStatus, TaskStatus
from walle_ray.rules import Decision, TriggerRule, decide
from walle_ray.spec import Task, Workflow

pytestmark = pytest.mark.usefixtures("ray_session")

# What a task does when its rule lets it run.
BEHAVIOURS = {
    "succeed": TaskStatus.SUCCESS,
    "fail": TaskStatus.ERROR,
    "skip": TaskStatus.SKIPPED,
}


@st.composite
def random_workflows(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=7))
    tasks = []
    for index in range(count):
        depends = draw(
            st.lists(st.integers(0, index - 1), unique=True, max_size=3)
            if index
            else st.just([])
        )
        upstream = sorted(_ancestors(tasks, [f"t{d}" for d in depends]))
        tasks.append(
            {
                "name": f"t{index}",
                "depends": [f"t{d}" for d in sorted(depends)],
                "rule": draw(st.sampled_from(list(TriggerRule))),
                "behaviour": draw(st.sampled_from(list(BEHAVIOURS))),
                # An upstream task whose status the body reads, if any.
                "reads": draw(st.sampled_from([None, *upstream])),
            }
        )
    return tasks


def _ancestors(tasks: list[dict[str, Any]], names: list[str]) -> set[str]:
    """Return ``names`` and every task upstream of them."""
    depends = {task["name"]: task["depends"] for task in tasks}
    found: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(depends[name])
    return found


def build(tasks: list[dict[str, Any]]) -> Workflow:
    specs = []
    for task in tasks:
        behaviour = task["behaviour"]
        specs.append(
            Task(
                name=task["name"],
                function="fail" if behaviour == "fail" else "echo",
                body=_body(task),
                depends=tuple(task["depends"]),
                trigger_rule=task["rule"],
                when="false" if behaviour == "skip" else None,
            )
        )
    return Workflow(name="random", tasks=tuple(specs))


def _body(task: dict[str, Any]) -> dict[str, Any]:
    if task["behaviour"] == "fail":
        return {"status": 400}
    if task["reads"] is None:
        return {"ok": True}
    return {"ok": True, "seen": f"{{{{ tasks.{task['reads']}.status }}}}"}


@pytest.mark.parametrize("mode", ["sync", "batch", "full"])
def test_random_dags_follow_rules(
    mode: str, gateway_url: str, invoker_pool: InvokerPool
) -> None:
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(tasks=random_workflows())
    def check(tasks: list[dict[str, Any]]) -> None:
        result = run_workflow(
            build(tasks), mode=mode, gateway=gateway_url, pool=invoker_pool
        )
        for task in tasks:
            status = result.tasks[task["name"]].status
            upstream = [result.tasks[d].status for d in task["depends"]]
            decision = decide(task["rule"], upstream, len(upstream))
            assert decision is not None
            if decision is Decision.RUN:
                assert status is BEHAVIOURS[task["behaviour"]], (task, upstream)
                if status is TaskStatus.SUCCESS and task["reads"] is not None:
                    read = result.tasks[task["reads"]].status.value
                    output = result.tasks[task["name"]].output
                    assert output == {"ok": True, "seen": read}, (task, output)
            elif decision is Decision.ABORT and status is TaskStatus.SKIPPED:
                # Decided early in full mode on a skipped upstream task.
                assert mode == "full", (task, upstream)
                assert TaskStatus.SKIPPED in upstream, (task, upstream)
            else:
                expected = (
                    TaskStatus.ABORT
                    if decision is Decision.ABORT
                    else TaskStatus.SKIPPED
                )
                assert status is expected, (task, upstream)
        failed = any(t.status.is_failure for t in result.tasks.values())
        expected_status = ExecutionStatus.ERROR if failed else ExecutionStatus.SUCCESS
        assert result.status is expected_status

    check()
