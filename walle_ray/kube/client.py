"""Apply, inspect and delete Walle's KubeRay resources with the Kubernetes API.

Every call goes through ``KubeRayClient``, which turns the client library's
failures into three errors a person can act on: no reachable cluster, no
KubeRay operator (the ``ray.io`` API group is missing), and no access.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from walle_ray.errors import WalleError
from walle_ray.kube.manifests import KubeSettings, Manifest, render_manifests

logger = logging.getLogger(__name__)

RAY_GROUP = "ray.io"
RAY_VERSION = "v1"
RAY_PLURALS = {"RayService": "rayservices", "RayJob": "rayjobs"}
POLL_INTERVAL_S = 2.0
# Job deployment statuses after which a RayJob changes no more.
FINAL_JOB_STATUSES = frozenset({"Complete", "Failed", "ValidationFailed"})
# Seconds one API request may take before it counts as a failure.
REQUEST_TIMEOUT_S = 30.0


# The kubeconfig loader raises these, not ConfigException, on a file whose
# fields have the wrong YAML types (kubernetes 37).
_MALFORMED_CONFIG_ERRORS = (
    TypeError,
    KeyError,
    AttributeError,
    ValueError,
    yaml.YAMLError,
)


class KubeError(WalleError):
    """A Kubernetes operation failed."""


class ClusterUnreachableError(KubeError):
    """No cluster is configured, or its API server does not respond."""


class OperatorMissingError(KubeError):
    """The cluster has no KubeRay custom resource definitions."""


class AccessDeniedError(KubeError):
    """The credentials may not perform the operation."""


class KubeTimeoutError(KubeError, TimeoutError):
    """A resource did not reach the expected state in time."""


def load_api_client(
    kubeconfig: str | None = None, context: str | None = None
) -> client.ApiClient:
    """Create an API client from a kubeconfig, or from the pod's service account.

    Without ``kubeconfig`` the ``KUBECONFIG`` variable or ``~/.kube/config``
    is read; when none exists, the in-cluster configuration is tried.
    """
    try:
        api_client: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
        return api_client
    except (config.ConfigException, *_MALFORMED_CONFIG_ERRORS) as exc:
        if kubeconfig is not None or not isinstance(exc, config.ConfigException):
            source = kubeconfig or "from KUBECONFIG or ~/.kube/config"
            raise ClusterUnreachableError(
                f"invalid kubeconfig {source!r}: {type(exc).__name__}: {exc}; "
                "fix the file or pass another with --kubeconfig"
            ) from None
        reason = str(exc)
    except OSError as exc:
        raise ClusterUnreachableError(
            f"cannot read kubeconfig {kubeconfig!r}: {exc.strerror}"
        ) from None
    try:
        configuration = client.Configuration()
        config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    except config.ConfigException:
        raise ClusterUnreachableError(
            f"no Kubernetes cluster configured ({reason}); set KUBECONFIG, "
            "pass --kubeconfig, or run inside a pod with a service account"
        ) from None
    return client.ApiClient(configuration)


@dataclass
class ServiceState:
    """Summary of the RayService and its RayJobs, as ``status`` reports it."""

    name: str
    exists: bool
    ready: bool = False
    service_status: str | None = None
    cluster: str | None = None
    serve_endpoints: int | None = None
    applications: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    jobs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "exists": self.exists,
            "ready": self.ready,
            "service_status": self.service_status,
            "cluster": self.cluster,
            "serve_endpoints": self.serve_endpoints,
            "applications": self.applications,
            "message": self.message,
            "jobs": self.jobs,
        }


def service_state(name: str, obj: Manifest | None) -> ServiceState:
    """Summarize a RayService object as the API server returned it."""
    if obj is None:
        return ServiceState(name=name, exists=False)
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready_condition = conditions.get("Ready")
    # KubeRay 1.3 and later set the Ready condition; older releases only
    # set serviceStatus to "Running".
    if ready_condition is not None:
        ready = ready_condition.get("status") == "True"
        message = ready_condition.get("message") or ready_condition.get("reason")
    else:
        ready = status.get("serviceStatus") == "Running"
        message = None
    active = status.get("activeServiceStatus") or {}
    applications = {
        app_name: app.get("status", "UNKNOWN")
        for app_name, app in (active.get("applicationStatuses") or {}).items()
    }
    return ServiceState(
        name=name,
        exists=True,
        ready=ready,
        service_status=status.get("serviceStatus"),
        cluster=active.get("rayClusterName"),
        serve_endpoints=status.get("numServeEndpoints"),
        applications=applications,
        message=message,
    )


class KubeRayClient:
    """Walle's resources in one namespace of one cluster."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn client library failures during ``action`` into ``KubeError``."""
        host = self.api_client.configuration.host
        try:
            yield
        except ApiException as exc:
            if exc.status in (401, 403):
                raise AccessDeniedError(
                    f"{action} failed: access denied by {host} (HTTP "
                    f"{exc.status}); ask for RBAC rights on the {RAY_GROUP} "
                    f"resources in namespace '{self.namespace}', or use another "
                    "context with --context"
                ) from None
            raise KubeError(
                f"{action} failed: HTTP {exc.status} {exc.reason}: {_api_message(exc)}"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise ClusterUnreachableError(
                f"{action} failed: the Kubernetes API server at {host} is not "
                f"reachable ({_connection_reason(exc)}); check the cluster and "
                "the kubeconfig context"
            ) from None

    def check_operator(self) -> None:
        """Raise ``OperatorMissingError`` unless ray.io/v1 has RayService and RayJob."""
        with self._errors(f"reading the {RAY_GROUP}/{RAY_VERSION} API"):
            try:
                resources = self.custom.get_api_resources(
                    RAY_GROUP, RAY_VERSION, _request_timeout=REQUEST_TIMEOUT_S
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
                raise OperatorMissingError(
                    f"the cluster at {self.api_client.configuration.host} has no "
                    f"{RAY_GROUP}/{RAY_VERSION} API: install the KubeRay operator "
                    "first (helm install kuberay-operator kuberay/kuberay-operator)"
                ) from None
        served = {resource.name for resource in resources.resources}
        missing = sorted(set(RAY_PLURALS.values()) - served)
        if missing:
            raise OperatorMissingError(
                f"the {RAY_GROUP}/{RAY_VERSION} API lacks {', '.join(missing)}: "
                "upgrade the KubeRay operator and its CRDs to 1.4 or later"
            )

    # Custom resources

    def get_custom(self, kind: str, name: str) -> Manifest | None:
        """Return the RayService or RayJob named ``name``, or None if absent."""
        with self._errors(f"reading {kind} '{name}'"):
            try:
                obj: Any = self.custom.get_namespaced_custom_object(
                    RAY_GROUP,
                    RAY_VERSION,
                    self.namespace,
                    RAY_PLURALS[kind],
                    name,
                    _request_timeout=REQUEST_TIMEOUT_S,
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
        return dict(obj)

    def apply_custom(self, manifest: Manifest) -> str:
        """Create the custom resource, or merge-patch it if it exists."""
        kind = manifest["kind"]
        name = manifest["metadata"]["name"]
        plural = RAY_PLURALS[kind]
        with self._errors(f"applying {kind} '{name}'"):
            try:
                self.custom.create_namespaced_custom_object(
                    RAY_GROUP,
                    RAY_VERSION,
                    self.namespace,
                    plural,
                    manifest,
                    _request_timeout=REQUEST_TIMEOUT_S,
                )
                return "created"
            except ApiException as exc:
                if exc.status != 409:
                    raise
            self.custom.patch_namespaced_custom_object(
                RAY_GROUP,
                RAY_VERSION,
                self.namespace,
                plural,
                name,
                {"metadata": {"labels": manifest["metadata"]["labels"]}}
                | {"spec": manifest["spec"]},
                _request_timeout=REQUEST_TIMEOUT_S,
            )
            return "updated"

    def delete_custom(self, kind: str, name: str) -> bool:
        """Delete a custom resource; return False when it did not exist."""
        with self._errors(f"deleting {kind} '{name}'"):
            try:
                self.custom.delete_namespaced_custom_object(
                    RAY_GROUP,
                    RAY_VERSION,
                    self.namespace,
                    RAY_PLURALS[kind],
                    name,
                    _request_timeout=REQUEST_TIMEOUT_S,
                )
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
        return True

    def list_jobs(self, instance: str) -> list[Manifest]:
        """List the RayJobs labelled as belonging to the instance ``instance``."""
        with self._errors("listing RayJobs"):
            listing: Any = self.custom.list_namespaced_custom_object(
                RAY_GROUP,
                RAY_VERSION,
                self.namespace,
                "rayjobs",
                label_selector=f"app.kubernetes.io/instance={instance}",
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        items: list[Manifest] = listing.get("items", [])
        return items

    # Core objects

    def apply_core(self, manifest: Manifest) -> str:
        """Create a Secret, Service, StatefulSet or Ingress, or patch it.

        An existing Secret is kept as it is, because it may hold a password
        that differs from the rendered placeholder.
        """
        kind = manifest["kind"]
        name = manifest["metadata"]["name"]
        create, patch = self._core_calls(kind)
        with self._errors(f"applying {kind} '{name}'"):
            try:
                create(self.namespace, manifest, _request_timeout=REQUEST_TIMEOUT_S)
                return "created"
            except ApiException as exc:
                if exc.status != 409:
                    raise
            if patch is None:
                return "kept"
            patch(
                name,
                self.namespace,
                manifest,
                _content_type="application/merge-patch+json",
                _request_timeout=REQUEST_TIMEOUT_S,
            )
            return "updated"

    def _core_calls(
        self, kind: str
    ) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
        if kind == "Secret":
            return self.core.create_namespaced_secret, None
        if kind == "Service":
            return (
                self.core.create_namespaced_service,
                self.core.patch_namespaced_service,
            )
        if kind == "StatefulSet":
            return (
                self.apps.create_namespaced_stateful_set,
                self.apps.patch_namespaced_stateful_set,
            )
        if kind == "Ingress":
            return (
                self.networking.create_namespaced_ingress,
                self.networking.patch_namespaced_ingress,
            )
        raise ValueError(f"unsupported manifest kind {kind!r}")

    def delete_core(self, kind: str, name: str) -> bool:
        """Delete a core object; return False when it did not exist."""
        calls: dict[str, Callable[..., Any]] = {
            "Secret": self.core.delete_namespaced_secret,
            "Service": self.core.delete_namespaced_service,
            "StatefulSet": self.apps.delete_namespaced_stateful_set,
            "Ingress": self.networking.delete_namespaced_ingress,
        }
        with self._errors(f"deleting {kind} '{name}'"):
            try:
                calls[kind](name, self.namespace, _request_timeout=REQUEST_TIMEOUT_S)
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
        return True

    def pod_logs(self, label_selector: str) -> str:
        """Return the logs of the newest pod matching ``label_selector``."""
        with self._errors(f"reading logs of pods '{label_selector}'"):
            pods = self.core.list_namespaced_pod(
                self.namespace,
                label_selector=label_selector,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
            if not pods.items:
                raise KubeError(
                    f"no pod matches '{label_selector}' in namespace "
                    f"'{self.namespace}': it may have been deleted already"
                )
            newest = max(pods.items, key=_creation_time)
            logs: str = self.core.read_namespaced_pod_log(
                _pod_name(newest),
                self.namespace,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        return logs

    # Workflows of commands

    def apply(self, settings: KubeSettings) -> list[tuple[str, str, str]]:
        """Apply the database, RayService and Ingress; return (kind, name, action)."""
        self.check_operator()
        files = render_manifests(settings)
        done: list[tuple[str, str, str]] = []
        for file_name in ("postgres.yaml", "rayservice.yaml", "ingress.yaml"):
            for manifest in files.get(file_name, []):
                kind = manifest["kind"]
                name = manifest["metadata"]["name"]
                if kind in RAY_PLURALS:
                    action = self.apply_custom(manifest)
                else:
                    action = self.apply_core(manifest)
                logger.info("%s %s %s in %s", action, kind, name, self.namespace)
                done.append((kind, name, action))
        return done

    def wait_ready(
        self,
        name: str,
        timeout_s: float,
        on_poll: Callable[[ServiceState], None] | None = None,
    ) -> ServiceState:
        """Poll the RayService until it is ready, at most ``timeout_s`` seconds.

        Raises ``KubeTimeoutError`` when it is still not ready by then.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            state = service_state(name, self.get_custom("RayService", name))
            if on_poll is not None:
                on_poll(state)
            if state.ready:
                return state
            if time.monotonic() >= deadline:
                detail = state.message or state.service_status or "no status yet"
                raise KubeTimeoutError(
                    f"RayService '{name}' not ready after {timeout_s:.0f}s "
                    f"(last status: {detail}); check it with 'walle kube status' "
                    f"or 'kubectl describe rayservice {name} -n {self.namespace}'"
                )
            time.sleep(POLL_INTERVAL_S)

    def status(self, settings: KubeSettings) -> ServiceState:
        """Summarize the RayService and the instance's RayJobs."""
        self.check_operator()
        name = settings.service_name
        state = service_state(name, self.get_custom("RayService", name))
        for job in self.list_jobs(settings.name):
            job_status = job.get("status") or {}
            deployment = job_status.get("jobDeploymentStatus", "New")
            ray_status = job_status.get("jobStatus")
            summary = f"{deployment}/{ray_status}" if ray_status else deployment
            state.jobs[job["metadata"]["name"]] = summary
        return state

    def delete(
        self, settings: KubeSettings, *, database: bool = False
    ) -> list[tuple[str, str]]:
        """Delete the RayService, RayJobs and Ingress, and the database if asked.

        The database's PersistentVolumeClaim is never deleted here, so the
        stored executions survive; delete it with kubectl to drop them.
        """
        self.check_operator()
        deleted: list[tuple[str, str]] = []
        if self.delete_custom("RayService", settings.service_name):
            deleted.append(("RayService", settings.service_name))
        for job in self.list_jobs(settings.name):
            job_name = job["metadata"]["name"]
            if self.delete_custom("RayJob", job_name):
                deleted.append(("RayJob", job_name))
        if self.delete_core("Ingress", settings.name):
            deleted.append(("Ingress", settings.name))
        if database and settings.database_secret is None:
            for kind, name in (
                ("StatefulSet", settings.postgres_name),
                ("Service", settings.postgres_name),
                ("Secret", settings.database_secret_name),
            ):
                if self.delete_core(kind, name):
                    deleted.append((kind, name))
        return deleted

    def wait_job(
        self,
        name: str,
        timeout_s: float,
        on_poll: Callable[[Manifest], None] | None = None,
    ) -> Manifest:
        """Poll a RayJob until its deployment status is final; return its status."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.get_custom("RayJob", name)
            if job is None:
                raise KubeError(f"RayJob '{name}' disappeared while waiting for it")
            status: Manifest = job.get("status") or {}
            if on_poll is not None:
                on_poll(status)
            if status.get("jobDeploymentStatus") in FINAL_JOB_STATUSES:
                return status
            if time.monotonic() >= deadline:
                raise KubeTimeoutError(
                    f"RayJob '{name}' not finished after {timeout_s:.0f}s (last "
                    f"status: {status.get('jobDeploymentStatus', 'none')}); it "
                    f"keeps running: see 'kubectl describe rayjob {name} -n "
                    f"{self.namespace}'"
                )
            time.sleep(POLL_INTERVAL_S)

    def submitter_logs(self, job_name: str) -> str:
        """Return the logs of a RayJob's submitter pod (``K8sJobMode``).

        KubeRay runs the submitter as a Kubernetes Job named like the RayJob,
        and the Job controller labels its pods with ``job-name``.
        """
        return self.pod_logs(f"job-name={job_name}")


def _connection_reason(exc: urllib3.exceptions.HTTPError) -> str:
    """Return the OS error text of a failed connection, or the error type."""
    cause = getattr(exc, "reason", None) or exc
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(cause))
    return found.group(1).strip() if found else type(cause).__name__


def _creation_time(pod: client.V1Pod) -> float:
    created = pod.metadata.creation_timestamp if pod.metadata else None
    return created.timestamp() if created is not None else 0.0


def _pod_name(pod: client.V1Pod) -> str:
    name = pod.metadata.name if pod.metadata else None
    if not name:
        raise KubeError("the API server returned a pod without a name")
    return str(name)


def _api_message(exc: ApiException) -> str:
    """Extract the Status message from an API error body, without other content."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return body[:300]
        if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
            return str(parsed["message"])
        return body[:300]
    return "no message"
