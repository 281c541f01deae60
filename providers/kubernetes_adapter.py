"""Kubernetes clusters (and KubeVirt VMs on them) as a ganyun Provider.

Through the official `kubernetes` client: an ApiClient whose Configuration comes from
spec.options (`host`, `verify_ssl`, `ca_cert`; bearer token = spec.secret) or from a
kubeconfig (`kubeconfig`, optional `context`). Mapping:
  cluster nodes                     -> Host (capacity, allocatable, arch, vendor, rack)
  KubeVirt VirtualMachines (+ VMIs) -> Node (cpu/memory from the domain spec, host, IPs, guest OS)
  Deployments / StatefulSets        -> Node (replicas x container requests)
  PersistentVolumeClaims            -> Volume; VolumeSnapshots -> Snapshot
  Services                          -> nothing
Kubernetes has no flavors, images, networks or security groups in this sense, and VMs are
only started and stopped here: the adapter declares just what it has (`features`).
Labels `ganyun.io/department`, `ganyun.io/system`, `ganyun.io/mlps-level`, `ganyun.io/owner`
become the estate's tags.

Lists are read in chunks (`limit` + `continue`) as raw JSON through the client's
`param_serialize`/`call_api`: the generated model classes cost more than the mapping and
drop fields of custom resources.

Honesty note: no kube-apiserver can run on the machines this was written on. The adapter
is tested against recorded API-server responses (tests/fixtures/kubernetes/) served over
loopback HTTP, with the real client doing the requests; it has not met a live cluster here.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from providers import mapping
from providers.base import (
    TAG_DEPARTMENT,
    TAG_MLPS_LEVEL,
    TAG_OWNER,
    TAG_SYSTEM,
    Capability,
    Host,
    Node,
    ProviderSpec,
    Snapshot,
    State,
    Utilization,
    Volume,
)
from providers.boundary import boundary
from providers.errors import AuthError, ConfigError, NotFound

Json = dict[str, Any]

LABEL_TAGS = {
    "ganyun.io/department": TAG_DEPARTMENT,
    "ganyun.io/system": TAG_SYSTEM,
    "ganyun.io/mlps-level": TAG_MLPS_LEVEL,
    "ganyun.io/owner": TAG_OWNER,
}
RACK_LABELS = ("ganyun.io/rack", "topology.kubernetes.io/rack", "rack", "topology.kubernetes.io/zone")
VENDOR_LABELS = (
    "ganyun.io/cpu-vendor",
    "feature.node.kubernetes.io/cpu-model.vendor_id",
    "cpu-vendor",
)
MODEL_LABELS = ("ganyun.io/cpu-model", "feature.node.kubernetes.io/cpu-model.name")


def _node_vendor(labels: Mapping[str, Any]) -> str:
    """A node's CPU vendor: its vendor label, else what its model label names ("Kunpeng-920",
    "Hygon C86 7285") through providers/cpu_models.yaml."""
    vendor = next((mapping.normalize_vendor(labels[k]) for k in VENDOR_LABELS if labels.get(k)), "")
    model = next((str(labels[k]) for k in MODEL_LABELS if labels.get(k)), "")
    return vendor or mapping.cpu_platform(model)[0]


PAGE = 500

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def quantity(value: object) -> float:
    """A Kubernetes resource quantity ("500m", "16Gi", "263842304Ki", 4) as a number of units."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return 0.0
    m = _QUANTITY.match(value.strip())
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"not a resource quantity: {value!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def _mib(value: object) -> int:
    return int(quantity(value) / 2**20)


def _gib(value: object) -> int:
    return math.ceil(quantity(value) / 2**30)


def _tags(labels: Mapping[str, Any], annotations: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Estate tags from `ganyun.io/*` labels, overridden by annotations of the same keys.

    Label values must be short ASCII, so a cluster labels `ganyun.io/department: rsj` and
    carries the Chinese name (市人社局) in the annotation; the annotation wins when present.
    """
    tags = {LABEL_TAGS[k]: str(v) for k, v in labels.items() if k in LABEL_TAGS}
    tags.update({LABEL_TAGS[k]: str(v) for k, v in (annotations or {}).items() if k in LABEL_TAGS})
    return tags


def _meta(obj: Mapping[str, Any]) -> Json:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "name" not in meta:
        raise ValueError("object without metadata.name")
    return meta


class KubernetesAdapter:
    """A Provider over one Kubernetes cluster."""

    features = frozenset(
        {
            Capability.HOSTS,
            Capability.VOLUMES,
            Capability.SNAPSHOTS,
            Capability.UTILIZATION,
            Capability.TLS_SECRETS,
            Capability.POWER,
        }
    )

    def __init__(self, spec: ProviderSpec, api_client: Any = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.client: Any = api_client if api_client is not None else self._build_client()
        self._node_info: dict[str, Json] | None = None

    # ------------------------------------------------------------------ client

    def _build_client(self) -> Any:
        from kubernetes import client, config

        opts = self.spec.options
        with boundary(self.name, "connect"):
            if opts.get("kubeconfig"):
                return config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=str(opts["kubeconfig"]), context=opts.get("context") or None
                )
            if not opts.get("host"):
                raise ConfigError(f"providers[{self.name}].options: kubernetes needs `host` or `kubeconfig`")
            conf = client.Configuration(host=str(opts["host"]).rstrip("/"))
            conf.verify_ssl = mapping.as_bool(opts.get("verify_ssl", True))
            if opts.get("ca_cert"):
                conf.ssl_ca_cert = str(opts["ca_cert"])
            if self.spec.secret:
                conf.api_key = {"BearerToken": self.spec.secret}
                conf.api_key_prefix = {"BearerToken": "Bearer"}
            conf.retries = 0  # sync decides about retries; a dead API server must fail fast
            return client.ApiClient(conf)

    def _request(self, method: str, path: str, query: Sequence[tuple[str, Any]] = (), body: Any = None) -> Json:
        """One API call through the client's own request path (auth, TLS, timeout), raw JSON back.

        The generated per-operation methods validate every argument with pydantic and build
        those validators on first use (seconds per method on a busy machine); list calls
        need none of that, so we serialize with `param_serialize` and send with `call_api`.
        """
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/merge-patch+json"
        req_method, url, req_headers, req_body, post = self.client.param_serialize(
            method=method,
            resource_path=path,
            query_params=[(k, v) for k, v in query if v is not None],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = self.client.call_api(
            req_method,
            url,
            header_params=req_headers,
            body=req_body,
            post_params=post,
            _request_timeout=self.spec.timeout_s,
        )
        data = resp.read()
        if not 200 <= resp.status < 300:
            try:
                reason = str(json.loads(data).get("message") or resp.reason)
            except (ValueError, AttributeError):
                reason = str(resp.reason)
            raise ApiException(status=resp.status, reason=reason)
        parsed = json.loads(data)
        if not isinstance(parsed, dict):
            raise ValueError("expected a JSON object")
        return parsed

    def _items(self, path: str, *query: tuple[str, Any]) -> Iterator[Json]:
        """Every item of a list call, following `metadata.continue` chunk by chunk."""
        token: str | None = None
        while True:
            page = self._request("GET", path, [*query, ("limit", PAGE), ("continue", token)])
            items = page.get("items")
            if not isinstance(items, list):
                raise ValueError("list answer without items")
            for item in items:
                if not isinstance(item, dict):
                    raise ValueError("list item is not an object")
                yield item
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return

    def _custom_items(self, group: str, version: str, plural: str) -> list[Json]:
        """All objects of a custom resource; a resource the cluster does not serve -> []."""
        try:
            with boundary(self.name, f"list {plural}.{group}"):
                return list(self._items(f"/apis/{group}/{version}/{plural}"))
        except NotFound:
            return []

    # ------------------------------------------------------------------ hosts

    def _nodes_raw(self) -> dict[str, Json]:
        if self._node_info is None:
            self._node_info = {_meta(n)["name"]: n for n in self._items("/api/v1/nodes")}
        return self._node_info

    def _requests_by_host(self) -> dict[str, tuple[float, float]]:
        """Sum of running pods' CPU and memory requests per node: the cluster's "used"."""
        used: dict[str, list[float]] = {}
        for pod in self._items("/api/v1/pods", ("fieldSelector", "status.phase=Running")):
            host = (pod.get("spec") or {}).get("nodeName")
            if not host:
                continue
            cpu, mem = _pod_requests(pod.get("spec") or {})
            total = used.setdefault(host, [0.0, 0.0])
            total[0] += cpu
            total[1] += mem
        return {h: (v[0], v[1]) for h, v in used.items()}

    def list_hosts(self) -> Sequence[Host]:
        with boundary(self.name, "list_hosts"):
            nodes = self._nodes_raw()
            try:
                used = self._requests_by_host()
            except (AuthError, NotFound):
                used = {}
            return [self._host(n, used) for n in nodes.values()]

    def _host(self, n: Json, used: Mapping[str, tuple[float, float]]) -> Host:
        meta = _meta(n)
        labels = meta.get("labels") or {}
        status = n.get("status") or {}
        capacity = status.get("capacity") or {}
        info = status.get("nodeInfo") or {}
        ready: Json = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        if ready.get("status") == "True":
            state = State.STOPPED if (n.get("spec") or {}).get("unschedulable") else State.RUNNING
        else:
            state = State.ERROR if ready.get("status") == "False" else State.UNKNOWN
        arch = mapping.normalize_arch(labels.get("kubernetes.io/arch") or info.get("architecture"))
        model = next((str(labels[k]) for k in MODEL_LABELS if labels.get(k)), "")
        vendor = _node_vendor(labels)
        cpu_used, mem_used = used.get(meta["name"], (0.0, 0.0))
        return Host(
            provider=self.name,
            id=str(meta.get("uid") or meta["name"]),
            name=str(meta["name"]),
            state=state,
            extra={
                "allocatable": dict(status.get("allocatable") or {}),
                "kubelet_version": info.get("kubeletVersion"),
                "os_image": info.get("osImage"),
                "kernel_version": info.get("kernelVersion"),
                "container_runtime": info.get("containerRuntimeVersion"),
                "zone": labels.get("topology.kubernetes.io/zone"),
                "roles": sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")),
                "cpu_requests": round(cpu_used, 3),
            },
            vcpus=int(quantity(capacity.get("cpu", 0))),
            ram_mb=_mib(capacity.get("memory", 0)),
            disk_gb=_gib(capacity.get("ephemeral-storage", 0)),
            vcpus_used=math.ceil(cpu_used),
            ram_mb_used=int(mem_used / 2**20),
            arch=arch,
            cpu_vendor=vendor or mapping.vendor_from_arch(arch),
            cpu_model=model,
            os_family=mapping.normalize_os(info.get("osImage")),
            rack=next((str(labels[k]) for k in RACK_LABELS if labels.get(k)), ""),
            running_vms=0,
        )

    # ------------------------------------------------------------------ nodes

    def list_nodes(self) -> Sequence[Node]:
        with boundary(self.name, "list_nodes"):
            try:
                hosts = self._nodes_raw()
            except (AuthError, NotFound):
                hosts = {}  # namespaced accounts cannot read nodes: VMs lose host arch only
            vms = self._custom_items("kubevirt.io", "v1", "virtualmachines")
            vmis = {
                (_meta(i).get("namespace", ""), _meta(i)["name"]): i
                for i in self._custom_items("kubevirt.io", "v1", "virtualmachineinstances")
            }
            out = [self._vm(vm, vmis, hosts) for vm in vms]
            for kind, plural in (("deployment", "deployments"), ("statefulset", "statefulsets")):
                out.extend(self._workload(kind, w, hosts) for w in self._items(f"/apis/apps/v1/{plural}"))
            return out

    def _vm(self, vm: Json, vmis: Mapping[tuple[str, str], Json], hosts: Mapping[str, Json]) -> Node:
        meta = _meta(vm)
        ns = str(meta.get("namespace", ""))
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        template = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
        domain = template.get("domain") or {}
        cpu = domain.get("cpu") or {}
        vcpus = (
            max(1, int(cpu.get("cores", 1))) * max(1, int(cpu.get("sockets", 1))) * max(1, int(cpu.get("threads", 1)))
        )
        resources = domain.get("resources") or {}
        memory = (domain.get("memory") or {}).get("guest") or (resources.get("requests") or {}).get("memory")
        vmi = vmis.get((ns, str(meta["name"])), {})
        vmi_status = vmi.get("status") or {}
        host = str(vmi_status.get("nodeName") or "")
        host_labels = (_meta(hosts[host]).get("labels") or {}) if host in hosts else {}
        arch = mapping.normalize_arch(template.get("architecture")) or mapping.normalize_arch(
            host_labels.get("kubernetes.io/arch")
        )
        vendor = _node_vendor(host_labels)
        guest = vmi_status.get("guestOSInfo") or {}
        volumes = template.get("volumes") or []
        image = ""
        for v in volumes:
            if "containerDisk" in v:
                image = str(v["containerDisk"].get("image", ""))
            elif "dataVolume" in v and not image:
                image = str(v["dataVolume"].get("name", ""))
            elif "persistentVolumeClaim" in v and not image:
                image = str(v["persistentVolumeClaim"].get("claimName", ""))
        status = vm.get("status") or {}
        printable = str(status.get("printableStatus") or vmi_status.get("phase") or "")
        ips = [str(i["ipAddress"]) for i in vmi_status.get("interfaces") or [] if i.get("ipAddress")]
        return Node(
            provider=self.name,
            id=f"kubevirt/{ns}/{meta['name']}",
            name=f"{ns}/{meta['name']}" if ns else str(meta["name"]),
            state=_vm_state(printable),
            extra={
                "kind": "VirtualMachine",
                "namespace": ns,
                "uid": meta.get("uid"),
                "printable_status": printable,
                "run_strategy": (vm.get("spec") or {}).get("runStrategy"),
                "guest_os": guest.get("prettyName") or guest.get("name"),
                "instancetype": ((vm.get("spec") or {}).get("instancetype") or {}).get("name"),
            },
            vcpus=vcpus,
            ram_mb=_mib(memory) if memory else 0,
            disk_gb=0,
            arch=arch,
            cpu_vendor=vendor or mapping.vendor_from_arch(arch),
            os_family=mapping.normalize_os(
                guest.get("id"),
                guest.get("name"),
                annotations.get("vm.kubevirt.io/os"),
                labels.get("kubevirt.io/os"),
                next((k.rsplit("/", 1)[1] for k in labels if k.startswith("os.template.kubevirt.io/")), None),
                image,
            ),
            ips=tuple(dict.fromkeys(ips)),
            host=host,
            image=image,
            size=str(((vm.get("spec") or {}).get("instancetype") or {}).get("name", "")),
            created_at=mapping.parse_time(meta.get("creationTimestamp")),
            tags=_tags(labels, annotations),
        )

    def _workload(self, kind: str, w: Json, hosts: Mapping[str, Json]) -> Node:
        meta = _meta(w)
        ns = str(meta.get("namespace", ""))
        spec = w.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        cpu, mem = _pod_requests(pod)
        status = w.get("status") or {}
        ready = int(status.get("readyReplicas") or 0)
        if replicas == 0:
            state = State.STOPPED
        elif ready >= replicas:
            state = State.RUNNING
        else:
            state = State.PENDING
        selector = pod.get("nodeSelector") or {}
        arch = mapping.normalize_arch(selector.get("kubernetes.io/arch"))
        template_meta = (spec.get("template") or {}).get("metadata") or {}
        labels = {**(template_meta.get("labels") or {}), **(meta.get("labels") or {})}
        annotations = {**(template_meta.get("annotations") or {}), **(meta.get("annotations") or {})}
        containers = pod.get("containers") or []
        return Node(
            provider=self.name,
            id=f"{kind}/{ns}/{meta['name']}",
            name=f"{ns}/{meta['name']}",
            state=state,
            extra={
                "kind": {"deployment": "Deployment", "statefulset": "StatefulSet"}[kind],
                "namespace": ns,
                "replicas": replicas,
                "ready_replicas": ready,
                "cpu_requests_millicores": round(cpu * replicas * 1000),
                "images": [str(c.get("image", "")) for c in containers],
            },
            vcpus=math.ceil(cpu * replicas - 1e-9),
            ram_mb=int(mem * replicas / 2**20),
            arch=arch,
            cpu_vendor=mapping.vendor_from_arch(arch),
            image=str(containers[0].get("image", "")) if containers else "",
            created_at=mapping.parse_time(meta.get("creationTimestamp")),
            tags=_tags(labels, annotations),
        )

    # ------------------------------------------------------------------ storage

    def list_volumes(self) -> Sequence[Volume]:
        with boundary(self.name, "list_volumes"):
            out = []
            for pvc in self._items("/api/v1/persistentvolumeclaims"):
                meta = _meta(pvc)
                spec = pvc.get("spec") or {}
                status = pvc.get("status") or {}
                size = (status.get("capacity") or {}).get("storage") or (
                    (spec.get("resources") or {}).get("requests") or {}
                ).get("storage")
                ns = str(meta.get("namespace", ""))
                out.append(
                    Volume(
                        provider=self.name,
                        id=f"{ns}/{meta['name']}",
                        name=f"{ns}/{meta['name']}",
                        state=mapping.normalize_state(status.get("phase")),
                        extra={
                            "volume_name": spec.get("volumeName"),
                            "access_modes": spec.get("accessModes"),
                            "volume_mode": spec.get("volumeMode"),
                        },
                        size_gb=_gib(size) if size else 0,
                        volume_type=str(spec.get("storageClassName") or ""),
                        tags=_tags(meta.get("labels") or {}, meta.get("annotations") or {}),
                    )
                )
            return out

    def list_snapshots(self) -> Sequence[Snapshot]:
        with boundary(self.name, "list_snapshots"):
            out = []
            for snap in self._custom_items("snapshot.storage.k8s.io", "v1", "volumesnapshots"):
                meta = _meta(snap)
                ns = str(meta.get("namespace", ""))
                source = ((snap.get("spec") or {}).get("source") or {}).get("persistentVolumeClaimName", "")
                status = snap.get("status") or {}
                out.append(
                    Snapshot(
                        provider=self.name,
                        id=f"{ns}/{meta['name']}",
                        name=f"{ns}/{meta['name']}",
                        state=State.RUNNING if status.get("readyToUse") else State.PENDING,
                        volume_id=f"{ns}/{source}" if source else "",
                        size_gb=_gib(status["restoreSize"]) if status.get("restoreSize") else 0,
                        created_at=mapping.parse_time(status.get("creationTime") or meta.get("creationTimestamp")),
                    )
                )
            return out

    # ------------------------------------------------------------------ certificates, metrics

    def list_tls_secrets(self) -> list[tuple[str, bytes]]:
        """(namespace/name, PEM of tls.crt) of every `kubernetes.io/tls` secret."""
        with boundary(self.name, "list_tls_secrets"):
            out = []
            for secret in self._items("/api/v1/secrets", ("fieldSelector", "type=kubernetes.io/tls")):
                meta = _meta(secret)
                crt = (secret.get("data") or {}).get("tls.crt")
                if secret.get("type") == "kubernetes.io/tls" and crt:
                    out.append((f"{meta.get('namespace', '')}/{meta['name']}", base64.b64decode(crt)))
            return out

    def list_utilization(self) -> Sequence[Utilization]:
        """Current use from metrics.k8s.io (when served) against requests: a one-sample window.

        metrics-server keeps no history, so avg and p95 are the same instantaneous value and
        window_days is 0; pods map to their VM (virt-launcher label) or workload (owner).
        """
        with boundary(self.name, "list_utilization"):
            metrics = self._custom_items("metrics.k8s.io", "v1beta1", "pods")
            if not metrics:
                return []
            usage: dict[tuple[str, str], tuple[float, float]] = {}
            for m in metrics:
                meta = _meta(m)
                cpu = sum(quantity((c.get("usage") or {}).get("cpu", 0)) for c in m.get("containers") or [])
                mem = sum(quantity((c.get("usage") or {}).get("memory", 0)) for c in m.get("containers") or [])
                usage[(str(meta.get("namespace", "")), str(meta["name"]))] = (cpu, mem)
            totals: dict[str, list[float]] = {}
            for pod in self._items("/api/v1/pods", ("fieldSelector", "status.phase=Running")):
                meta = _meta(pod)
                key = (str(meta.get("namespace", "")), str(meta["name"]))
                if key not in usage:
                    continue
                owner = _pod_owner(pod)
                if owner is None:
                    continue
                req_cpu, req_mem = _pod_requests(pod.get("spec") or {})
                t = totals.setdefault(owner, [0.0, 0.0, 0.0, 0.0])
                t[0] += usage[key][0]
                t[1] += usage[key][1]
                t[2] += req_cpu
                t[3] += req_mem
            out = []
            for node_id, (cpu, mem, req_cpu, req_mem) in sorted(totals.items()):
                cpu_pct = round(100.0 * cpu / req_cpu, 2) if req_cpu else 0.0
                out.append(
                    Utilization(
                        provider=self.name,
                        node_id=node_id,
                        cpu_avg_pct=cpu_pct,
                        cpu_p95_pct=cpu_pct,
                        ram_avg_pct=round(100.0 * mem / req_mem, 2) if req_mem else 0.0,
                        window_days=0,
                    )
                )
            return out

    # ------------------------------------------------------------------ actions

    def get_node(self, node_id: str) -> Node:
        for node in self.list_nodes():
            if node.id == node_id:
                return node
        raise NotFound(self.name, "get_node", f"no node {node_id}")

    def _vm_run_strategy(self, call: str, node_id: str, strategy: str) -> None:
        kind, _, rest = node_id.partition("/")
        ns, _, name = rest.partition("/")
        if kind != "kubevirt" or not name:
            raise NotFound(self.name, call, f"{node_id}: only KubeVirt VMs are started and stopped")
        with boundary(self.name, call):
            self._request(
                "PATCH",
                f"/apis/kubevirt.io/v1/namespaces/{ns}/virtualmachines/{name}",
                body={"spec": {"runStrategy": strategy}},
            )

    def start_node(self, node_id: str) -> None:
        self._vm_run_strategy("start_node", node_id, "Always")

    def stop_node(self, node_id: str) -> None:
        self._vm_run_strategy("stop_node", node_id, "Halted")


def _pod_requests(pod_spec: Mapping[str, Any]) -> tuple[float, float]:
    """CPU cores and memory bytes a pod requests (limits when no request is set)."""
    cpu = mem = 0.0
    for c in pod_spec.get("containers") or []:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        cpu += quantity(req.get("cpu", lim.get("cpu", 0)))
        mem += quantity(req.get("memory", lim.get("memory", 0)))
    return cpu, mem


def _pod_owner(pod: Json) -> str | None:
    """The ganyun node id a pod belongs to: its KubeVirt VM or its Deployment/StatefulSet."""
    meta = _meta(pod)
    ns = str(meta.get("namespace", ""))
    labels = meta.get("labels") or {}
    if labels.get("kubevirt.io/domain"):
        return f"kubevirt/{ns}/{labels['kubevirt.io/domain']}"
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "StatefulSet":
            return f"statefulset/{ns}/{ref['name']}"
        if ref.get("kind") == "ReplicaSet":
            # <deployment>-<pod-template-hash>: the Deployment owns the ReplicaSet.
            return f"deployment/{ns}/{str(ref['name']).rsplit('-', 1)[0]}"
    return None


def _vm_state(printable: str) -> State:
    word = printable.lower()
    if word in ("running",):
        return State.RUNNING
    if word in ("stopped", "succeeded"):
        return State.STOPPED
    if word in ("paused",):
        return State.SUSPENDED
    if word in (
        "starting",
        "stopping",
        "provisioning",
        "migrating",
        "waitingforvolumebinding",
        "pending",
        "scheduling",
        "scheduled",
    ):
        return State.PENDING
    if word in (
        "crashloopbackoff",
        "errorunschedulable",
        "errimagepull",
        "imagepullbackoff",
        "errorpvcnotfound",
        "datavolumeerror",
        "failed",
        "unknown",
    ):
        return State.ERROR if word != "unknown" else State.UNKNOWN
    return mapping.normalize_state(word)
