"""Execution and trigger endpoints, with tasks calling a counting server."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from service_helpers import (
    SYNC_TRIGGER_WAIT_S,
    CountingServer,
    read_sse,
    task_of,
    wait_final,
    wait_for,
)

from walle_ray.service.service import EVENT_POLL_S

pytestmark = pytest.mark.ray


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def put_workflow(client: httpx.Client, name: str, body: str) -> None:
    response = client.put(
        f"/api/workflows/{name}",
        content=f"name: {name}\n{body}",
        headers={"content-type": "application/yaml"},
    )
    assert response.status_code == 201, response.text


def start(client: httpx.Client, name: str, **request: Any) -> dict[str, Any]:
    response = client.post(f"/api/workflows/{name}/executions", json=request)
    assert response.status_code == 201, response.text
    execution: dict[str, Any] = response.json()
    assert response.headers["location"] == (
        f"/api/executions/{execution['execution_id']}"
    )
    return execution


def chain_spec(server: CountingServer, key: str) -> str:
    """Three tasks in a row: ok, fail (while ``key`` fails), ok."""
    return f"""\
tasks:
  - name: a
    url: {server.url}/ok/{key}-a
  - name: b
    url: {server.url}/fail/{key}-b
    depends: [a]
  - name: c
    url: {server.url}/ok/{key}-c
    depends: [b]
"""


def test_execution_records_tasks_and_attempts(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("run")
    put_workflow(client, name, chain_spec(counting_server, name))
    execution = start(client, name, input={"n": 1}, mode="batch")
    assert execution["status"] in ("WAITING", "RUNNING")
    assert execution["mode"] == "batch"

    final = wait_final(client, execution["execution_id"])
    assert final["status"] == "SUCCESS"
    assert final["input"] == {"n": 1}
    assert final["version"] == 1
    assert [t["name"] for t in final["tasks"]] == ["a", "b", "c"]
    first = task_of(final, "a")
    assert first["status"] == "SUCCESS"
    assert first["output"]["body"] == {"n": 1}
    attempt = first["attempt_details"][0]
    assert attempt["number"] == 1
    assert attempt["status_code"] == 200
    assert final["output"] == {"c": task_of(final, "c")["output"]}


def test_function_task_uses_local_gateway(client: httpx.Client) -> None:
    name = unique("gateway")
    put_workflow(client, name, "tasks:\n  - name: hello\n    function: echo\n")
    execution = start(client, name, input={"greeting": "hi"})
    final = wait_final(client, execution["execution_id"])
    assert final["status"] == "SUCCESS", final
    assert task_of(final, "hello")["output"] == {"greeting": "hi"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{oops", 400, "invalid JSON body"),
        (b'{"mode": "turbo"}', 422, "invalid mode 'turbo'"),
        (b'{"inputs": 1}', 422, "unknown fields inputs"),
        (b"[1, 2]", 422, "JSON object"),
        (b'{"input": NaN}', 400, "NaN is not a JSON number"),
        (b'{"input": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "nested too deeply"),
    ],
    ids=["bad-json", "bad-mode", "unknown-field", "not-object", "nan", "deep"],
)
def test_start_execution_bad_input(
    client: httpx.Client,
    counting_server: CountingServer,
    body: bytes,
    status: int,
    message: str,
) -> None:
    name = unique("bad")
    put_workflow(client, name, chain_spec(counting_server, name))
    response = client.post(
        f"/api/workflows/{name}/executions",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == status
    assert message in response.json()["error"]
    listed = client.get(f"/api/workflows/{name}/executions").json()
    assert listed["total"] == 0


def test_unknown_workflow_or_execution_is_404(client: httpx.Client) -> None:
    assert client.post("/api/workflows/nope/executions", json={}).status_code == 404
    missing = str(uuid.uuid4())
    for method, path in (
        ("GET", f"/api/executions/{missing}"),
        ("GET", f"/api/executions/{missing}/events"),
        ("POST", f"/api/executions/{missing}/cancel"),
        ("POST", f"/api/executions/{missing}/retry"),
    ):
        response = client.request(method, path)
        assert response.status_code == 404, path
        assert missing in response.json()["error"]


def test_list_executions_pages_and_filters(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("paged")
    put_workflow(client, name, chain_spec(counting_server, name))
    ids = [start(client, name, input={"i": i})["execution_id"] for i in range(3)]
    for execution_id in ids:
        wait_final(client, execution_id)

    first = client.get(f"/api/workflows/{name}/executions", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert page["total"] == 3
    assert page["has_more"] is True
    assert [e["execution_id"] for e in page["items"]] == ids[::-1][:2]

    rest = client.get(
        f"/api/workflows/{name}/executions", params={"limit": 2, "offset": 2}
    ).json()
    assert [e["execution_id"] for e in rest["items"]] == [ids[0]]
    assert rest["has_more"] is False

    succeeded = client.get(
        f"/api/workflows/{name}/executions", params={"status": "SUCCESS"}
    ).json()
    assert succeeded["total"] == 3
    failed = client.get(
        f"/api/workflows/{name}/executions", params={"status": "ERROR"}
    ).json()
    assert failed["total"] == 0

    bogus = client.get(f"/api/workflows/{name}/executions", params={"status": "BOGUS"})
    assert bogus.status_code == 422
    assert "BOGUS" in bogus.json()["error"]
    zero = client.get(f"/api/workflows/{name}/executions", params={"limit": 0})
    assert zero.status_code == 422


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"limit": "-1"}, "limit", "'-1'"),
        ({"limit": "100000"}, "limit", "'100000'"),
        ({"limit": "abc"}, "limit", "'abc'"),
        ({"offset": "-5"}, "offset", "'-5'"),
        ({"offset": str(2**63)}, "offset", repr(str(2**63))),
        ({"offset": "9" * 30}, "offset", repr("9" * 30)),
    ],
    ids=["negative", "huge-limit", "text", "negative-offset", "offset-2-63", "30"],
)
def test_list_executions_bad_paging(
    client: httpx.Client,
    counting_server: CountingServer,
    params: dict[str, str],
    field: str,
    value: str,
) -> None:
    name = unique("paging")
    put_workflow(client, name, chain_spec(counting_server, name))
    response = client.get(f"/api/workflows/{name}/executions", params=params)
    assert response.status_code == 422
    body = response.json()
    assert f"{field}={value}" in body["error"]
    assert body["fields"] == [field]


def test_wrong_method_is_json_405(client: httpx.Client) -> None:
    response = client.patch("/api/workflows/anything")
    assert response.status_code == 405
    assert "PATCH /api/workflows/anything" in response.json()["error"]
    assert "PUT" in response.headers["allow"]


def test_idempotency_key_returns_same_execution(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("idem")
    put_workflow(client, name, chain_spec(counting_server, name))
    headers = {"Idempotency-Key": "order-42"}
    first = client.post(
        f"/api/workflows/{name}/executions", json={"input": 1}, headers=headers
    )
    second = client.post(
        f"/api/workflows/{name}/executions", json={"input": 1}, headers=headers
    )
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["execution_id"] == first.json()["execution_id"]
    assert second.json()["idempotency_key"] == "order-42"
    wait_final(client, first.json()["execution_id"])
    assert counting_server.count(f"{name}-a") == 1
    listed = client.get(f"/api/workflows/{name}/executions").json()
    assert listed["total"] == 1


def test_idempotency_key_with_other_body_is_422(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("idemdiff")
    put_workflow(client, name, chain_spec(counting_server, name))
    headers = {"Idempotency-Key": "order-43"}
    path = f"/api/workflows/{name}/executions"
    first = client.post(path, json={"input": 1}, headers=headers)
    other = client.post(path, json={"input": 2}, headers=headers)
    assert first.status_code == 201
    assert other.status_code == 422
    error = other.json()["error"]
    assert f"already used for execution {first.json()['execution_id']}" in error
    assert "with a different input" in error
    wait_final(client, first.json()["execution_id"])
    assert counting_server.count(f"{name}-a") == 1
    listed = client.get(path).json()
    assert listed["total"] == 1
    assert listed["items"][0]["input"] == 1


@pytest.mark.parametrize(
    ("key", "message"),
    [("", "it is empty"), ("k" * 1000, "it has 1000 characters")],
    ids=["empty", "long"],
)
def test_invalid_idempotency_key_is_422(
    client: httpx.Client, counting_server: CountingServer, key: str, message: str
) -> None:
    name = unique("badkey")
    put_workflow(client, name, chain_spec(counting_server, name))
    response = client.post(
        f"/api/workflows/{name}/executions", json={}, headers={"Idempotency-Key": key}
    )
    assert response.status_code == 422
    assert message in response.json()["error"]
    listed = client.get(f"/api/workflows/{name}/executions").json()
    assert listed["total"] == 0


def trigger_spec(server: CountingServer, key: str, run_async: bool, path: str) -> str:
    flag = "true" if run_async else "false"
    return f"""\
triggers:
  - name: hook
    async: {flag}
tasks:
  - name: only
    url: {server.url}/{path}
"""


def test_async_trigger_returns_202(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("async")
    put_workflow(client, name, trigger_spec(counting_server, name, True, f"ok/{name}"))
    response = client.post(f"/api/triggers/{name}/hook", json={"order": 7})
    assert response.status_code == 202
    execution_id = response.json()["execution_id"]
    assert response.headers["location"] == f"/api/executions/{execution_id}"
    final = wait_final(client, execution_id)
    assert final["status"] == "SUCCESS"
    assert final["input"] == {"order": 7}
    assert task_of(final, "only")["output"]["body"] == {"order": 7}


def test_sync_trigger_waits_for_output(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("sync")
    put_workflow(client, name, trigger_spec(counting_server, name, False, f"ok/{name}"))
    response = client.post(
        f"/api/triggers/{name}/hook",
        content="plain words",
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "SUCCESS"
    assert body["output"] == {"only": {"key": name, "calls": 1, "body": "plain words"}}


def test_slow_sync_trigger_returns_202(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("slow")
    seconds = SYNC_TRIGGER_WAIT_S + 3
    path = f"sleep/{name}?seconds={seconds}"
    put_workflow(client, name, trigger_spec(counting_server, name, False, path))
    began = time.monotonic()
    response = client.post(f"/api/triggers/{name}/hook", json={})
    waited = time.monotonic() - began
    assert response.status_code == 202, response.text
    assert waited >= SYNC_TRIGGER_WAIT_S
    assert response.json()["status"] == "RUNNING"
    final = wait_final(client, response.json()["execution_id"])
    assert final["status"] == "SUCCESS"


def test_trigger_idempotency_key(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("hookidem")
    put_workflow(client, name, trigger_spec(counting_server, name, True, f"ok/{name}"))
    headers = {"Idempotency-Key": "delivery-1"}
    first = client.post(f"/api/triggers/{name}/hook", json={}, headers=headers)
    again = client.post(f"/api/triggers/{name}/hook", json={}, headers=headers)
    other = client.post(
        f"/api/triggers/{name}/hook", json={}, headers={"Idempotency-Key": "d-2"}
    )
    assert again.json()["execution_id"] == first.json()["execution_id"]
    assert other.json()["execution_id"] != first.json()["execution_id"]
    wait_final(client, first.json()["execution_id"])
    wait_final(client, other.json()["execution_id"])
    assert counting_server.count(name) == 2


def test_sync_trigger_other_body_is_422_at_once(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    """A mismatched body gets 422 without waiting for the first execution."""
    name = unique("syncdiff")
    path = f"sleep/{name}?seconds={SYNC_TRIGGER_WAIT_S * 4}"
    put_workflow(client, name, trigger_spec(counting_server, name, False, path))
    headers = {"Idempotency-Key": "delivery-9"}
    first = client.post(f"/api/triggers/{name}/hook", json={"v": 1}, headers=headers)
    assert first.status_code == 202, first.text
    began = time.monotonic()
    other = client.post(f"/api/triggers/{name}/hook", json={"v": 2}, headers=headers)
    waited = time.monotonic() - began
    assert other.status_code == 422, other.text
    assert first.json()["execution_id"] in other.json()["error"]
    # The first execution runs on well past the trigger's wait.
    assert waited < SYNC_TRIGGER_WAIT_S * 0.8
    cancelled = client.post(f"/api/executions/{first.json()['execution_id']}/cancel")
    assert cancelled.status_code in (200, 202), cancelled.text


def test_sync_trigger_idempotency_key(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("syncidem")
    put_workflow(client, name, trigger_spec(counting_server, name, False, f"ok/{name}"))
    headers = {"Idempotency-Key": "delivery-1"}
    first = client.post(f"/api/triggers/{name}/hook", json={}, headers=headers)
    again = client.post(f"/api/triggers/{name}/hook", json={}, headers=headers)
    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert again.json()["execution_id"] == first.json()["execution_id"]
    for response in (first, again):
        body = response.json()
        assert body["status"] == "SUCCESS"
        assert task_of(body, "only")["status"] == "SUCCESS"
    assert counting_server.count(name) == 1


def test_trigger_bad_requests(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("hookbad")
    put_workflow(client, name, trigger_spec(counting_server, name, True, f"ok/{name}"))
    unknown = client.post(f"/api/triggers/{name}/nope", json={})
    assert unknown.status_code == 404
    assert "hook" in unknown.json()["error"]
    assert client.post("/api/triggers/no-such-flow/hook", json={}).status_code == 404
    bad_json = client.post(
        f"/api/triggers/{name}/hook",
        content=b"{",
        headers={"content-type": "application/json"},
    )
    assert bad_json.status_code == 400
    bad_mode = client.post(f"/api/triggers/{name}/hook?mode=fast", json={})
    assert bad_mode.status_code == 422
    long_key = client.post(
        f"/api/triggers/{name}/hook", json={}, headers={"Idempotency-Key": "k" * 300}
    )
    assert long_key.status_code == 422
    assert "Idempotency-Key" in long_key.json()["error"]
    listed = client.get(f"/api/workflows/{name}/executions").json()
    assert listed["total"] == 0


def test_cancel_stops_running_execution(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("cancel")
    put_workflow(
        client,
        name,
        f"""\
tasks:
  - name: long
    url: {counting_server.url}/sleep/{name}?seconds=120
    timeout: 300
  - name: after
    url: {counting_server.url}/ok/{name}-after
    depends: [long]
""",
    )
    execution_id = start(client, name)["execution_id"]
    wait_for(lambda: counting_server.count(name) == 1)
    began = time.monotonic()
    response = client.post(f"/api/executions/{execution_id}/cancel")
    assert response.status_code == 200, response.text
    assert time.monotonic() - began < 60
    body = response.json()
    assert body["status"] == "CANCELLED"
    final = client.get(f"/api/executions/{execution_id}").json()
    assert task_of(final, "long")["status"] == "CANCELLED"
    assert task_of(final, "after")["status"] == "CANCELLED"
    assert counting_server.count(f"{name}-after") == 0

    again = client.post(f"/api/executions/{execution_id}/cancel")
    assert again.status_code == 409
    assert "CANCELLED" in again.json()["error"]


def test_retry_reruns_only_failed_tasks(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("retry")
    put_workflow(client, name, chain_spec(counting_server, name))
    counting_server.failing.add(f"{name}-b")
    failed = wait_final(client, start(client, name, input={"k": 1})["execution_id"])
    assert failed["status"] == "ERROR"
    assert task_of(failed, "a")["status"] == "SUCCESS"
    assert task_of(failed, "b")["status"] == "ERROR"
    assert task_of(failed, "c")["status"] != "SUCCESS"

    counting_server.failing.discard(f"{name}-b")
    response = client.post(f"/api/executions/{failed['execution_id']}/retry")
    assert response.status_code == 201, response.text
    retried = response.json()
    assert retried["retry_of"] == failed["execution_id"]
    assert retried["execution_id"] != failed["execution_id"]
    final = wait_final(client, retried["execution_id"])
    assert final["status"] == "SUCCESS"
    assert final["input"] == {"k": 1}
    assert task_of(final, "a")["output"] == task_of(failed, "a")["output"]
    assert counting_server.count(f"{name}-a") == 1
    assert counting_server.count(f"{name}-b") == 2
    assert counting_server.count(f"{name}-c") == 1

    # The original keeps its record; a successful execution has nothing to retry.
    original = client.get(f"/api/executions/{failed['execution_id']}").json()
    assert original["status"] == "ERROR"
    again = client.post(f"/api/executions/{final['execution_id']}/retry")
    assert again.status_code == 409


def test_events_arrive_in_order(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("events")
    put_workflow(
        client,
        name,
        f"""\
tasks:
  - name: first
    url: {counting_server.url}/sleep/{name}-first?seconds=1
  - name: second
    url: {counting_server.url}/ok/{name}-second
    depends: [first]
""",
    )
    execution_id = start(client, name)["execution_id"]
    url = f"/api/executions/{execution_id}/events"
    began = time.monotonic()
    with client.stream("GET", url, headers={"Last-Event-ID": "0"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_sse(response)
    # The workflow takes about 1 s. A stream that ends only after a whole
    # long-poll period (15 s) missed the wake-up of a new event.
    assert time.monotonic() - began < EVENT_POLL_S - 3
    kinds = [(kind, data.get("task")) for kind, data in events]
    assert kinds == [
        ("execution_started", None),
        ("task_started", "first"),
        ("task_finished", "first"),
        ("task_started", "second"),
        ("task_finished", "second"),
        ("execution_finished", None),
    ]
    assert events[2][1]["status"] == "SUCCESS"
    assert events[-1][1]["status"] == "SUCCESS"

    # A client that connects after the end gets the state, then the end.
    with client.stream("GET", url) as late:
        late_events = read_sse(late)
    assert [kind for kind, _ in late_events] == ["snapshot", "execution_finished"]
    snapshot = late_events[0][1]
    assert snapshot["status"] == "SUCCESS"
    assert [t["status"] for t in snapshot["tasks"]] == ["SUCCESS", "SUCCESS"]

    # An id that no event of this execution has gets a snapshot too.
    unknown = {"Last-Event-ID": str(10**20)}
    with client.stream("GET", url, headers=unknown) as foreign:
        foreign_events = read_sse(foreign)
    assert [kind for kind, _ in foreign_events] == ["snapshot", "execution_finished"]


def test_events_of_running_execution_start_with_snapshot(
    client: httpx.Client, counting_server: CountingServer
) -> None:
    name = unique("snap")
    put_workflow(
        client,
        name,
        f"""\
tasks:
  - name: quick
    url: {counting_server.url}/ok/{name}-quick
  - name: slow
    url: {counting_server.url}/sleep/{name}-slow?seconds=3
    depends: [quick]
""",
    )
    execution_id = start(client, name)["execution_id"]
    wait_for(lambda: counting_server.count(f"{name}-slow") == 1)
    with client.stream("GET", f"/api/executions/{execution_id}/events") as response:
        events = read_sse(response)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "snapshot"
    assert kinds[-1] == "execution_finished"
    snapshot = events[0][1]
    assert snapshot["status"] == "RUNNING"
    assert task_of(snapshot, "quick")["status"] == "SUCCESS"
    finished = [data["task"] for kind, data in events if kind == "task_finished"]
    assert finished == ["slow"]
