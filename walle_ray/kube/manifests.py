"""KubeRay and Kubernetes manifests for running Walle on a cluster, as dicts.

Every manifest is built from one ``KubeSettings`` value, so ``walle kube
render`` and ``walle kube apply`` produce the same objects, and the files in
``kuberay/`` are ``render_manifests(KubeSettings())`` written out as YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import yaml

Manifest = dict[str, Any]

RAY_API_VERSION = "ray.io/v1"
RAY_VERSION = "2.60.0"
"""Ray version of the image: the ``rayproject/ray`` tag in the Dockerfile."""

# KubeRay 1.4 and later reject longer names, because it derives Kubernetes
# service names from them. A RayCluster name plus "-serve-svc" must fit a
# 63-character DNS label. A RayService or RayJob name gets a "-xxxxx"
# suffix for the RayCluster it creates.
MAX_RAYCLUSTER_NAME = 53
MAX_RAYSERVICE_NAME = 47
MAX_RAYJOB_NAME = 47
MAX_DNS_LABEL = 63
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The pattern of the CRDs' resource quantities (x-kubernetes-int-or-string).
_QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
    r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

SERVE_PORT = 8000
DASHBOARD_PORT = 8265
SERVE_IMPORT_PATH = "serve_app.app:app"
INGRESS_DEPLOYMENT = "WalleApi"
"""Name of the Serve ingress deployment that ``serve_app.app:app`` binds."""

DEFAULT_GATEWAY = "http://gateway.openfaas.svc.cluster.local:8080"
WORKFLOW_ENTRYPOINT = "walle run /app/examples/example-workflow.yaml --json"
BENCH_COMMAND = "python -m walle_ray.kube.benchjob"
BENCH_ENTRYPOINT = f"{BENCH_COMMAND} --quick"
DATABASE_URL_KEY = "url"
POSTGRES_IMAGE = "postgres:16-alpine"
# A placeholder that makes the rendered PostgreSQL usable at once; replace
# the Secret before storing anything worth keeping (docs/kubernetes.md).
POSTGRES_PLACEHOLDER_PASSWORD = "change-me"


def _package_version() -> str:
    try:
        return version("walle-ray")
    except PackageNotFoundError:
        return "0.0.0"


@dataclass(frozen=True)
class KubeSettings:
    """Settings that the manifests are rendered from; the defaults give ``kuberay/``.

    ``database_secret`` names an existing Secret with the database URL under
    the key ``url``; without it a small PostgreSQL StatefulSet is rendered.
    ``cluster`` names an existing RayCluster for the RayJobs; without it each
    RayJob creates its own cluster and deletes it when the job ends.
    ``replicas`` is the worker pods at start, by default ``min_workers``.
    """

    name: str = "walle"
    namespace: str = "default"
    image: str = field(default_factory=lambda: f"walle-ray:{_package_version()}")
    gateway: str = DEFAULT_GATEWAY
    database_secret: str | None = None
    cluster: str | None = None
    min_workers: int = 1
    max_workers: int = 4
    replicas: int | None = None
    head_cpu: str = "1"
    head_memory: str = "2Gi"
    worker_cpu: str = "1"
    worker_memory: str = "2Gi"
    ingress_host: str | None = None
    ingress_class: str | None = None
    workflow_entrypoint: str = WORKFLOW_ENTRYPOINT
    bench_entrypoint: str = BENCH_ENTRYPOINT

    @property
    def service_name(self) -> str:
        return self.name

    @property
    def start_workers(self) -> int:
        return self.min_workers if self.replicas is None else self.replicas

    @property
    def workflow_job_name(self) -> str:
        return f"{self.name}-workflow"

    @property
    def bench_job_name(self) -> str:
        return f"{self.name}-bench"

    @property
    def database_secret_name(self) -> str:
        return self.database_secret or f"{self.name}-database"

    @property
    def postgres_name(self) -> str:
        return f"{self.name}-postgres"

    def check(self) -> None:
        """Raise ``ValueError`` naming the first invalid setting."""
        check_name("RayService name", self.service_name, MAX_RAYSERVICE_NAME)
        check_name("RayJob name", self.workflow_job_name, MAX_RAYJOB_NAME)
        check_name("RayJob name", self.bench_job_name, MAX_RAYJOB_NAME)
        check_name("namespace", self.namespace, MAX_DNS_LABEL, _DNS_1123_LABEL)

        if self.cluster is not None:
            check_name("RayCluster name", self.cluster, MAX_RAYCLUSTER_NAME)
        if self.database_secret is not None:
            check_name("Secret name", self.database_secret, 253, _DNS_1123_LABEL)

        for label, quantity in (
            ("head CPU", self.head_cpu),
            ("head memory", self.head_memory),
            ("worker CPU", self.worker_cpu),
            ("worker memory", self.worker_memory),
        ):
            if not _QUANTITY.match(quantity):
                raise ValueError(
                    f"invalid {label} {quantity!r}: give a Kubernetes quantity "
                    "such as 500m, 2 or 4Gi"
                )
        if not self.image.strip() or any(c.isspace() for c in self.image):
            raise ValueError(f"invalid image {self.image!r}: give NAME[:TAG]")

        if self.min_workers < 0:
            raise ValueError(f"invalid min workers {self.min_workers}: use 0 or more")
        if self.max_workers < max(self.min_workers, 1):
            raise ValueError(
                f"invalid max workers {self.max_workers}: use at least 1 and at "
                f"least the min workers ({self.min_workers})"
            )
        if not self.min_workers <= self.start_workers <= self.max_workers:
            raise ValueError(
                f"invalid worker replicas {self.start_workers}: use a number from the "
                f"min workers ({self.min_workers}) to the max ({self.max_workers})"
            )


def check_name(
    kind: str,
    name: str,
    max_length: int,
    pattern: re.Pattern[str] = _DNS_1035_LABEL,
) -> None:
    """Raise ``ValueError`` unless ``name`` is a DNS label of at most ``max_length``."""
    if len(name) > max_length:
        raise ValueError(
            f"invalid {kind} {name!r}: {len(name)} characters, KubeRay and "
            f"Kubernetes allow at most {max_length}; choose a shorter --name"
        )
    if not pattern.match(name):
        first = "a letter" if pattern is _DNS_1035_LABEL else "a letter or digit"
        raise ValueError(
            f"invalid {kind} {name!r}: use lowercase letters, digits and '-', "
            f"starting with {first} and ending with a letter or digit"
        )


def _labels(settings: KubeSettings, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "walle",
        "app.kubernetes.io/instance": settings.name,
        "app.kubernetes.io/component": component,
    }


def _metadata(settings: KubeSettings, name: str, component: str) -> Manifest:
    return {
        "name": name,
        "namespace": settings.namespace,
        "labels": _labels(settings, component),
    }


def _env(settings: KubeSettings) -> list[Manifest]:
    return [
        {"name": "OPENFAAS_GATEWAY", "value": settings.gateway},
        {
            "name": "WALLE_DATABASE_URL",
            "valueFrom": {
                "secretKeyRef": {
                    "name": settings.database_secret_name,
                    "key": DATABASE_URL_KEY,
                }
            },
        },
    ]


def _resources(cpu: str, memory: str) -> Manifest:
    amounts = {"cpu": cpu, "memory": memory}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def _ray_container(
    settings: KubeSettings, name: str, cpu: str, memory: str, ports: list[Manifest]
) -> Manifest:
    container: Manifest = {
        "name": name,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "env": _env(settings),
        "resources": _resources(cpu, memory),
    }
    if ports:
        container["ports"] = ports
    return container


def ray_cluster_spec(settings: KubeSettings, *, autoscaling: bool = True) -> Manifest:
    """Build a RayCluster spec: one head and one autoscaled worker group."""
    head_ports = [
        {"name": "gcs-server", "containerPort": 6379},
        {"name": "dashboard", "containerPort": DASHBOARD_PORT},
        {"name": "client", "containerPort": 10001},
        {"name": "serve", "containerPort": SERVE_PORT},
    ]
    head = {
        "rayStartParams": {"dashboard-host": "0.0.0.0"},
        "template": {
            "metadata": {"labels": _labels(settings, "ray-head")},
            "spec": {
                "containers": [
                    _ray_container(
                        settings,
                        "ray-head",
                        settings.head_cpu,
                        settings.head_memory,
                        head_ports,
                    )
                ]
            },
        },
    }
    worker = {
        "groupName": "workers",
        "replicas": settings.start_workers,
        "minReplicas": settings.min_workers,
        "maxReplicas": settings.max_workers,
        "rayStartParams": {},
        "template": {
            "metadata": {"labels": _labels(settings, "ray-worker")},
            "spec": {
                "containers": [
                    _ray_container(
                        settings,
                        "ray-worker",
                        settings.worker_cpu,
                        settings.worker_memory,
                        [],
                    )
                ]
            },
        },
    }
    spec: Manifest = {
        "rayVersion": RAY_VERSION,
        "enableInTreeAutoscaling": autoscaling,
        "headGroupSpec": head,
        "workerGroupSpecs": [worker],
    }
    if autoscaling:
        spec["autoscalerOptions"] = {
            "upscalingMode": "Default",
            "idleTimeoutSeconds": 60,
            "resources": _resources("500m", "512Mi"),
        }
    return spec


def serve_config(settings: KubeSettings) -> Manifest:
    """Build the Ray Serve config that ``serveConfigV2`` carries as YAML."""
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": "0.0.0.0", "port": SERVE_PORT},
        "applications": [
            {
                "name": "walle",
                "route_prefix": "/",
                "import_path": SERVE_IMPORT_PATH,
                "deployments": [
                    {
                        "name": INGRESS_DEPLOYMENT,
                        "num_replicas": 1,
                        # The ingress only waits on HTTP and the store, so
                        # it must not hold a CPU that invokers could use.
                        "ray_actor_options": {"num_cpus": 0},
                    }
                ],
            }
        ],
    }


def rayservice(settings: KubeSettings) -> Manifest:
    """Build the RayService that runs the API and dashboard on Ray Serve."""
    return {
        "apiVersion": RAY_API_VERSION,
        "kind": "RayService",
        "metadata": _metadata(settings, settings.service_name, "service"),
        "spec": {
            "serveConfigV2": to_yaml(serve_config(settings)),
            "rayClusterConfig": ray_cluster_spec(settings),
        },
    }


def rayjob(settings: KubeSettings, name: str, entrypoint: str) -> Manifest:
    """Build a RayJob on ``settings.cluster``, or on a cluster of its own."""
    spec: Manifest = {
        "entrypoint": entrypoint,
        "submissionMode": "K8sJobMode",
        "backoffLimit": 0,
    }
    if settings.cluster is not None:
        spec["clusterSelector"] = {"ray.io/cluster": settings.cluster}
    else:
        # The job's own cluster goes away when the job ends; the RayJob and
        # its submitter pod stay, so the logs can still be read.
        spec["rayClusterSpec"] = ray_cluster_spec(settings, autoscaling=False)
        spec["shutdownAfterJobFinishes"] = True
        spec["ttlSecondsAfterFinished"] = 60
    return {
        "apiVersion": RAY_API_VERSION,
        "kind": "RayJob",
        "metadata": _metadata(settings, name, "job"),
        "spec": spec,
    }


def postgres(settings: KubeSettings) -> list[Manifest]:
    """Build a single-replica PostgreSQL: its Secret, Service and StatefulSet."""
    name = settings.postgres_name
    labels = _labels(settings, "database")
    url = (
        f"postgresql://walle:{POSTGRES_PLACEHOLDER_PASSWORD}@{name}."
        f"{settings.namespace}.svc.cluster.local:5432/walle"
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(settings, settings.database_secret_name, "database"),
        "type": "Opaque",
        "stringData": {
            "password": POSTGRES_PLACEHOLDER_PASSWORD,
            DATABASE_URL_KEY: url,
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(settings, name, "database"),
        "spec": {
            "selector": labels,
            "ports": [
                {"name": "postgres", "port": 5432, "targetPort": 5432},
            ],
        },
    }
    container = {
        "name": "postgres",
        "image": POSTGRES_IMAGE,
        "ports": [{"name": "postgres", "containerPort": 5432}],
        "env": [
            {"name": "POSTGRES_USER", "value": "walle"},
            {"name": "POSTGRES_DB", "value": "walle"},
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
            {
                "name": "POSTGRES_PASSWORD",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": settings.database_secret_name,
                        "key": "password",
                    }
                },
            },
        ],
        "readinessProbe": {
            "exec": {"command": ["pg_isready", "-U", "walle", "-d", "walle"]},
            "periodSeconds": 5,
        },
        "resources": _resources("500m", "512Mi"),
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(settings, name, "database"),
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }
    return [secret, service, statefulset]


def ingress(settings: KubeSettings) -> Manifest:
    """Build the Ingress that routes HTTP to the Serve service (API and dashboard)."""
    rule: Manifest = {
        "http": {
            "paths": [
                {
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {
                        "service": {
                            # KubeRay names the RayService's Serve service so.
                            "name": f"{settings.service_name}-serve-svc",
                            "port": {"number": SERVE_PORT},
                        }
                    },
                }
            ]
        }
    }
    if settings.ingress_host:
        rule["host"] = settings.ingress_host
    spec: Manifest = {"rules": [rule]}
    if settings.ingress_class:
        spec["ingressClassName"] = settings.ingress_class
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(settings, settings.name, "ingress"),
        "spec": spec,
    }


def workflow_job(settings: KubeSettings) -> Manifest:
    return rayjob(settings, settings.workflow_job_name, settings.workflow_entrypoint)


def bench_job(settings: KubeSettings, name: str | None = None) -> Manifest:
    return rayjob(settings, name or settings.bench_job_name, settings.bench_entrypoint)


def render_manifests(settings: KubeSettings) -> dict[str, list[Manifest]]:
    """Build every manifest, keyed by the file name ``render`` writes it to."""
    settings.check()
    files: dict[str, list[Manifest]] = {}
    if settings.database_secret is None:
        files["postgres.yaml"] = postgres(settings)
    files["rayservice.yaml"] = [rayservice(settings)]
    files["ingress.yaml"] = [ingress(settings)]
    files["rayjob-workflow.yaml"] = [workflow_job(settings)]
    files["rayjob-bench.yaml"] = [bench_job(settings)]
    return files


class _Dumper(yaml.SafeDumper):
    """A safe YAML dumper that writes multi-line strings as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(data: Any) -> str:
    """Dump ``data`` as block-style YAML, keys in the order they were built."""
    text: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=88
    )
    return text


HEADER = "# Rendered by 'walle kube render'; edit the settings, not this file.\n"


def manifest_text(manifests: list[Manifest]) -> str:
    """Render manifests as one YAML stream with the generated-file header."""
    documents = [to_yaml(manifest) for manifest in manifests]
    return HEADER + "---\n" + "---\n".join(documents)


def with_settings(settings: KubeSettings, **changes: Any) -> KubeSettings:
    """Return ``settings`` with ``changes`` applied and checked."""
    updated = replace(settings, **changes)
    updated.check()
    return updated
