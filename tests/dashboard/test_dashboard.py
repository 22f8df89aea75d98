"""End-to-end tests of the dashboard in headless Chromium against the real app.

Each test saves a screenshot of the page it checks to
``tests/dashboard/artifacts/``.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from walle_ray.spec import load_workflow

from .conftest import ROOT, DashboardApp, screenshot

pytestmark = pytest.mark.ray

FINAL = ("SUCCESS", "ERROR", "CANCELLED")
RUN_TIMEOUT_MS = 90_000

SLOW_SPEC = """\
name: {name}
description: Two sleeping tasks, then one that joins them.
triggers:
- type: http
  name: hook
  async: true
tasks:
- name: left
  function: sleep
  body: {{seconds: 1.5, side: left}}
- name: right
  function: sleep
  body: {{seconds: 1.5, side: right}}
- name: join
  function: echo
  body:
    left: "{{{{ tasks.left.output }}}}"
    right: "{{{{ tasks.right.output }}}}"
  depends: [left, right]
"""

FLAKY_SPEC = """\
name: {name}
tasks:
- name: prepare
  function: echo
  body: {{step: prepare}}
- name: unstable
  function: flaky
  body: {{failures: 1, key: "{key}"}}
  depends: [prepare]
- name: report
  function: echo
  body: {{unstable: "{{{{ tasks.unstable.output }}}}"}}
  depends: [unstable]
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(api: httpx.Client, spec: str) -> dict[str, Any]:
    response = api.post(
        "workflows", content=spec, headers={"content-type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def wait_final(
    api: httpx.Client, execution_id: str, timeout_s: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        record: dict[str, Any] = api.get(f"executions/{execution_id}").json()
        if record["status"] in FINAL:
            return record
        assert time.monotonic() < deadline, (
            f"execution {execution_id} still {record['status']}"
        )
        time.sleep(0.3)


def open_page(page: Any, app: DashboardApp, route: str) -> None:
    page.goto(f"{app.url}#{route}")


def set_editor(page: Any, text: str) -> None:
    editor = page.get_by_test_id("yaml-editor")
    editor.fill(text)


def test_yaml_preview_matches_spec_loader(
    page: Any, dashboard_app: DashboardApp
) -> None:
    open_page(page, dashboard_app, "/")
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        text = path.read_text()
        preview = page.evaluate(
            "async (text) => (await import('./js/yaml.js')).previewWorkflow(text)", text
        )
        workflow = load_workflow(text)
        assert preview["name"] == workflow.name, path.name
        expected = [
            {"name": t.name, "depends": list(t.depends)} for t in workflow.tasks
        ]
        got = [{"name": t["name"], "depends": t["depends"]} for t in preview["tasks"]]
        assert got == expected, path.name


def test_create_workflow_with_live_validation(
    page: Any, dashboard_app: DashboardApp, api: httpx.Client
) -> None:
    name = unique("created")
    open_page(page, dashboard_app, "/new")
    expect(page.get_by_test_id("validation-status")).to_have_text("Valid")
    screenshot(page, "editor-new")

    invalid = SLOW_SPEC.format(name=name).replace("[left, right]", "[left, rihgt]")
    set_editor(page, invalid)
    issue = page.locator(".issue").first
    expect(issue).to_contain_text("rihgt")
    expect(page.get_by_test_id("validation-status")).to_have_text("1 problem")
    line = invalid.splitlines().index("  depends: [left, rihgt]") + 1
    assert issue.get_attribute("data-line") == str(line)
    expect(page.locator(f".band[data-line='{line}']")).to_have_count(1)
    screenshot(page, "editor-invalid")

    set_editor(page, SLOW_SPEC.format(name=name))
    expect(page.get_by_test_id("validation-status")).to_have_text("Valid")
    expect(page.locator(".band")).to_have_count(0)
    expect(page.locator(".dag-node")).to_have_count(3)
    names = [w["name"] for w in api.get("workflows").json()["items"]]
    assert name not in names, "validation must not store the workflow"

    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("workflow-title")).to_have_text(name)
    expect(page.locator(f"#workflow-list a[data-name='{name}']")).to_have_class(
        "active"
    )
    expect(page.get_by_test_id("trigger-url")).to_contain_text(
        f"/api/triggers/{name}/hook"
    )
    assert api.get(f"workflows/{name}").status_code == 200
    screenshot(page, "workflow")


def test_execution_reaches_success_live(
    page: Any, dashboard_app: DashboardApp, api: httpx.Client
) -> None:
    name = unique("live")
    create(api, SLOW_SPEC.format(name=name))
    open_page(page, dashboard_app, f"/workflows/{name}")
    page.get_by_test_id("mode").select_option("batch")
    page.get_by_test_id("input-json").fill('{"run": "live"}')
    page.get_by_test_id("execute").click()
    page.wait_for_url("**#/executions/*")
    # A marker on the window shows that the page is never reloaded.
    page.evaluate("window.__sameDocument = true")

    expect(page.locator(".dag-node.s-RUNNING").first).to_be_visible(
        timeout=RUN_TIMEOUT_MS
    )
    expect(page.get_by_test_id("execution-status")).to_have_text(
        "RUNNING", timeout=RUN_TIMEOUT_MS
    )
    screenshot(page, "execution-running")
    expect(page.get_by_test_id("execution-status")).to_have_text(
        "SUCCESS", timeout=RUN_TIMEOUT_MS
    )
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator(".dag-node.s-SUCCESS")).to_have_count(3)
    expect(page.locator(".gantt-row.s-SUCCESS")).to_have_count(3)

    row = page.locator("tr[data-task='join']")
    row.locator("button.expand").click()
    output = page.get_by_test_id("task-output")
    expect(output).to_contain_text('"side": "left"')
    screenshot(page, "execution-success")

    execution_id = page.url.rsplit("/", 1)[-1]
    record = api.get(f"executions/{execution_id}").json()
    assert record["mode"] == "batch"
    assert record["input"] == {"run": "live"}


def test_failed_execution_retry(
    page: Any, dashboard_app: DashboardApp, api: httpx.Client
) -> None:
    name = unique("flaky")
    create(api, FLAKY_SPEC.format(name=name, key=uuid.uuid4().hex))
    started = api.post(f"workflows/{name}/executions", json={"mode": "sync"}).json()
    failed = wait_final(api, started["execution_id"])
    assert failed["status"] == "ERROR"

    open_page(page, dashboard_app, f"/executions/{failed['execution_id']}")
    expect(page.get_by_test_id("execution-status")).to_have_text("ERROR")
    expect(page.locator(".dag-node.s-ERROR[data-task='unstable']")).to_have_count(1)
    expect(page.locator(".dag-node.s-SUCCESS[data-task='prepare']")).to_have_count(1)
    page.locator("tr[data-task='unstable'] button.expand").click()
    expect(page.get_by_test_id("task-error")).to_contain_text("flaky")
    screenshot(page, "execution-failed")

    page.get_by_test_id("retry").click()
    expect(page.get_by_test_id("execution-status")).to_have_text(
        "SUCCESS", timeout=RUN_TIMEOUT_MS
    )
    retried_id = page.url.rsplit("/", 1)[-1]
    assert retried_id != failed["execution_id"]
    expect(page.locator(".dag-node.s-SUCCESS")).to_have_count(3)
    screenshot(page, "execution-retried")


def test_delete_workflow(
    page: Any, dashboard_app: DashboardApp, api: httpx.Client
) -> None:
    name = unique("doomed")
    create(api, SLOW_SPEC.format(name=name))
    open_page(page, dashboard_app, f"/workflows/{name}")
    expect(page.get_by_test_id("workflow-title")).to_have_text(name)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("delete-workflow").click()
    page.wait_for_url("**#/")
    expect(page.locator(f"#workflow-list a[data-name='{name}']")).to_have_count(0)
    assert api.get(f"workflows/{name}").status_code == 404
    screenshot(page, "home")


def test_api_error_shown_in_banner(page: Any, dashboard_app: DashboardApp) -> None:
    open_page(page, dashboard_app, "/workflows/no-such-workflow")
    banner = page.get_by_test_id("error-text")
    expect(banner).to_contain_text("workflow 'no-such-workflow' not found")
    screenshot(page, "error-banner")

    page.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#banner")).to_be_hidden()


def test_compare_runs_three_modes(
    page: Any, dashboard_app: DashboardApp, api: httpx.Client
) -> None:
    name = unique("compare")
    create(api, SLOW_SPEC.format(name=name).replace("1.5", "0.4"))
    open_page(page, dashboard_app, f"/workflows/{name}/compare")
    page.get_by_test_id("run-all-modes").click()
    for mode in ("sync", "batch", "full"):
        card = page.locator(f"section[data-mode='{mode}']")
        expect(card.locator(".badge")).to_have_text("SUCCESS", timeout=RUN_TIMEOUT_MS)
        expect(card.locator(".gantt-row")).to_have_count(3)
        makespan = page.get_by_test_id(f"makespan-{mode}").inner_text()
        assert makespan.endswith(("ms", "s")), makespan
    expect(page.get_by_test_id("run-all-modes")).to_be_enabled(timeout=RUN_TIMEOUT_MS)
    listed = api.get(f"workflows/{name}/executions").json()["items"]
    assert sorted(e["mode"] for e in listed) == ["batch", "full", "sync"]
    screenshot(page, "compare")


def large_spec(name: str, levels: int, width: int) -> str:
    lines = [f"name: {name}", "tasks:"]
    for level in range(levels):
        for i in range(width):
            lines.append(f"- name: t{level}-{i}")
            lines.append("  function: echo")
            if level:
                parents = sorted(
                    {f"t{level - 1}-{i}", f"t{level - 1}-{(i * 7 + 3) % width}"}
                )
                lines.append(f"  depends: [{', '.join(parents)}]")
    return "\n".join(lines) + "\n"


def test_large_workflow_stays_responsive(
    page: Any, dashboard_app: DashboardApp, api: httpx.Client
) -> None:
    name = unique("large")
    spec = large_spec(name, levels=10, width=100)
    create(api, spec)
    started = api.post(f"workflows/{name}/executions", json={"mode": "full"}).json()
    execution = wait_final(api, started["execution_id"], timeout_s=300)
    assert execution["status"] == "SUCCESS"

    open_page(page, dashboard_app, f"/executions/{execution['execution_id']}")
    expect(page.locator(".dag-node")).to_have_count(1000)
    expect(page.locator(".dag-node.s-SUCCESS")).to_have_count(1000)
    expect(page.locator("[data-testid=task-table] tbody tr")).to_have_count(50)
    pager = page.locator(".pager-info").last
    expect(pager).to_have_text(re.compile(r"^1\W50 of 1000 tasks$"))
    before = page.locator(".dag-svg").get_attribute("viewBox")
    page.locator(".dag-svg").hover()
    page.mouse.wheel(0, 600)
    expect(page.locator(".dag-svg")).not_to_have_attribute("viewBox", before or "")
    page.get_by_role("button", name=re.compile("^Next")).last.click()
    expect(pager).to_have_text(re.compile(r"^51\W100 of 1000 tasks$"))
    expect(page.locator("tr[data-task='t0-50']")).to_have_count(1)
    screenshot(page, "execution-large")

    open_page(page, dashboard_app, f"/workflows/{name}/edit")
    expect(page.locator(".dag-node")).to_have_count(1000)
    expect(page.get_by_test_id("validation-status")).to_have_text("Valid")
    screenshot(page, "editor-large")
