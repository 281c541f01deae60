"""The kubernetes adapter against recorded API-server responses served over loopback.

No kube-apiserver can run here: tests/fixtures/kubernetes/ holds list answers shaped like
real ones, served by pytest-httpserver; the real `kubernetes` client makes the requests
(auth header, chunked lists with `continue`, field selectors, timeouts). Expected values are
read from the same fixture files.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from providers.base import Capability, Provider, ProviderSpec, State
from providers.errors import AuthError, BadResponse, NotFound, Unavailable
from providers.kubernetes_adapter import KubernetesAdapter, quantity
from providers.registry import create_provider

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "kubernetes"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.recorded-service-account-token"


def _load(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")


@pytest.fixture()
def cluster(httpserver: HTTPServer) -> HTTPServer:
    seen: list[Request] = []
    httpserver.seen = seen  # type: ignore[attr-defined]

    def serve(name: str):
        def handler(request: Request) -> Response:
            seen.append(request)
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return _json(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "message": "Unauthorized",
                        "reason": "Unauthorized",
                        "code": 401,
                    },
                    401,
                )
            return _json(_load(name))

        return handler

    def nodes(request: Request) -> Response:
        assert request.args.get("limit") == "500"
        page = "nodes_page2.json" if request.args.get("continue") else "nodes_page1.json"
        return serve(page)(request)

    def secrets(request: Request) -> Response:
        assert request.args.get("fieldSelector") == "type=kubernetes.io/tls"
        return serve("secrets_tls.json")(request)

    def pods(request: Request) -> Response:
        assert request.args.get("fieldSelector") == "status.phase=Running"
        return serve("pods_running.json")(request)

    routes = {
        "/api/v1/nodes": nodes,
        "/api/v1/pods": pods,
        "/api/v1/secrets": secrets,
        "/api/v1/persistentvolumeclaims": serve("persistentvolumeclaims.json"),
        "/apis/apps/v1/deployments": serve("deployments.json"),
        "/apis/apps/v1/statefulsets": serve("statefulsets.json"),
        "/apis/kubevirt.io/v1/virtualmachines": serve("virtualmachines.json"),
        "/apis/kubevirt.io/v1/virtualmachineinstances": serve("virtualmachineinstances.json"),
        "/apis/metrics.k8s.io/v1beta1/pods": serve("pod_metrics.json"),
        "/apis/snapshot.storage.k8s.io/v1/volumesnapshots": serve("volumesnapshots.json"),
    }
    for path, handler in routes.items():
        httpserver.expect_request(path).respond_with_handler(handler)
    return httpserver


def _adapter(server: HTTPServer, token: str = TOKEN, timeout_s: float = 5.0) -> KubernetesAdapter:
    spec = ProviderSpec(
        name="xc-k8s",
        driver="kubernetes",
        secret=token,
        timeout_s=timeout_s,
        options={"host": server.url_for("").rstrip("/"), "verify_ssl": False},
    )
    adapter = create_provider(spec)
    assert isinstance(adapter, KubernetesAdapter) and isinstance(adapter, Provider)
    return adapter


def test_hosts_from_both_chunks(cluster: HTTPServer) -> None:
    raw = _load("nodes_page1.json")["items"] + _load("nodes_page2.json")["items"]
    hosts = {h.name: h for h in _adapter(cluster).list_hosts()}
    assert set(hosts) == {n["metadata"]["name"] for n in raw}
    for n in raw:
        h = hosts[n["metadata"]["name"]]
        cap = n["status"]["capacity"]
        assert h.vcpus == int(cap["cpu"])
        assert h.ram_mb == int(cap["memory"].removesuffix("Ki")) // 1024
        assert h.arch == {"arm64": "aarch64", "amd64": "x86_64"}[n["metadata"]["labels"]["kubernetes.io/arch"]]
        assert h.extra["allocatable"] == n["status"]["allocatable"]
    kp1, kp2, hg = hosts["kp-worker-01"], hosts["kp-worker-02"], hosts["hg-worker-01"]
    assert (kp1.cpu_vendor, kp1.cpu_model, kp1.rack, kp1.state) == ("Kunpeng", "Kunpeng-920", "R12", State.RUNNING)
    assert (kp2.cpu_vendor, kp2.state) == ("Kunpeng", State.STOPPED)  # cordoned
    assert (hg.cpu_vendor, hg.rack, hg.state) == ("Hygon", "gz-prod-b", State.ERROR)  # zone as rack; NotReady
    assert kp1.os_family == "Kylin"  # nodeInfo.osImage "Kylin Linux Advanced Server V10 (Lance)"
    # kp-worker-01 has no vendor label: "Kunpeng" comes from its model string through cpu_models.yaml.
    # used = requests of running pods on the node
    pods = [p for p in _load("pods_running.json")["items"] if p["spec"]["nodeName"] == "kp-worker-01"]
    cpu = sum(quantity(c["resources"]["requests"]["cpu"]) for p in pods for c in p["spec"]["containers"])
    assert kp1.vcpus_used == -(-cpu // 1)


def test_vms_and_workloads_as_nodes(cluster: HTTPServer) -> None:
    nodes = {n.id: n for n in _adapter(cluster).list_nodes()}
    assert set(nodes) == {
        "kubevirt/rsj/rsj-db-01",
        "kubevirt/rsj/rsj-web-01",
        "deployment/ggfw/gft-gateway",
        "statefulset/ggfw/gft-redis",
    }
    db, web = nodes["kubevirt/rsj/rsj-db-01"], nodes["kubevirt/rsj/rsj-web-01"]
    assert (db.vcpus, db.ram_mb, db.state, db.host, db.ips) == (
        8,
        32768,
        State.RUNNING,
        "kp-worker-01",
        ("10.244.1.23",),
    )
    assert (db.arch, db.cpu_vendor, db.os_family, db.size) == ("aarch64", "Kunpeng", "openEuler", "u1.2xlarge")
    assert (db.department, db.system, db.mlps_level, db.tags["owner"]) == ("市人社局", "社会保险业务系统", 3, "李工")
    # Stopped VM: no VMI, so no host; OS from the containerDisk image name; label level 2.
    assert (web.state, web.host, web.os_family, web.mlps_level, web.ram_mb) == (State.STOPPED, "", "Kylin", 2, 8192)
    gw, redis = nodes["deployment/ggfw/gft-gateway"], nodes["statefulset/ggfw/gft-redis"]
    # 3 replicas x (500m + 100m) = 1.8 cores -> 2 vCPUs; 3 x (1Gi + 128Mi)
    assert (gw.vcpus, gw.ram_mb, gw.extra["cpu_requests_millicores"]) == (2, 3 * (1024 + 128), 1800)
    assert (gw.state, gw.arch, gw.department, gw.system, gw.mlps_level) == (
        State.RUNNING,
        "aarch64",
        "市行政审批局",
        "赣服通赣州分厅",
        3,
    )
    assert (redis.vcpus, redis.ram_mb, redis.state) == (3, 3 * 2048, State.PENDING)  # 2 of 3 ready


def test_volumes_snapshots_and_empty_kinds(cluster: HTTPServer) -> None:
    adapter = _adapter(cluster)
    vols = {v.id: v for v in adapter.list_volumes()}
    root, pending = vols["rsj/rsj-db-01-root"], vols["ggfw/data-gft-redis-2"]
    assert (root.size_gb, root.volume_type, root.state, root.tags) == (
        200,
        "ceph-rbd-sm4",
        State.RUNNING,
        {"department": "市人社局"},
    )
    assert (pending.size_gb, pending.state) == (10, State.PENDING)
    (snap,) = adapter.list_snapshots()
    assert (snap.volume_id, snap.size_gb, snap.state) == ("rsj/rsj-db-01-root", 200, State.RUNNING)
    # Kubernetes has no flavors, images or networks in this sense: not declared, not listed.
    assert not {Capability.SIZES, Capability.IMAGES, Capability.NETWORKS} & adapter.features


def test_tls_secrets_for_certificate_scanning(cluster: HTTPServer) -> None:
    ((name, pem),) = _adapter(cluster).list_tls_secrets()
    assert name == "ggfw/gft-tls"
    assert pem == (FIX / "gft-tls.crt.pem").read_bytes()
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pem)
    assert "gft.ganzhou.gov.cn" in cert.subject.rfc4514_string()


def test_utilization_from_metrics_api(cluster: HTTPServer) -> None:
    util = {u.node_id: u for u in _adapter(cluster).list_utilization()}
    assert set(util) == {"kubevirt/rsj/rsj-db-01", "deployment/ggfw/gft-gateway", "statefulset/ggfw/gft-redis"}
    db = util["kubevirt/rsj/rsj-db-01"]
    assert (db.cpu_avg_pct, db.window_days) == (25.0, 0)  # 2000m used of 8 requested
    assert db.ram_avg_pct == round(100 * 16896 / (33 * 1024), 2)
    # gft-redis-1 has no metrics sample: only redis-0's use against redis-0's request
    assert util["statefulset/ggfw/gft-redis"].cpu_avg_pct == 25.0


def test_bad_token_is_auth_error(cluster: HTTPServer) -> None:
    with pytest.raises(AuthError) as info:
        _adapter(cluster, token="expired").list_hosts()
    assert info.value.provider == "xc-k8s" and info.value.call == "list_hosts"
    assert "expired" not in str(info.value)


def test_kubevirt_not_installed_means_no_vms(httpserver: HTTPServer) -> None:
    empty = {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []}
    httpserver.expect_request("/api/v1/nodes").respond_with_json(empty)
    httpserver.expect_request("/apis/apps/v1/deployments").respond_with_json(empty)
    httpserver.expect_request("/apis/apps/v1/statefulsets").respond_with_json(empty)
    for plural in ("virtualmachines", "virtualmachineinstances"):
        httpserver.expect_request(f"/apis/kubevirt.io/v1/{plural}").respond_with_json(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": "the server could not find the requested resource",
                "reason": "NotFound",
                "code": 404,
            },
            status=404,
        )
    assert _adapter(httpserver).list_nodes() == []


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (lambda r: _json({"code": 500, "message": "etcdserver: request timed out"}, 500), Unavailable),
        (lambda r: _json({"code": 403, "message": "forbidden"}, 403), AuthError),
        (lambda r: _json({"code": 404, "message": "not found"}, 404), NotFound),
        (
            lambda r: Response('{"kind": "NodeList", "items": [{"metadata": {"na', content_type="application/json"),
            BadResponse,
        ),
        (lambda r: _json({"kind": "NodeList", "items": "nope"}), BadResponse),
    ],
)
def test_errors_are_translated(httpserver: HTTPServer, answer, kind) -> None:
    httpserver.expect_request("/api/v1/nodes").respond_with_handler(answer)
    with pytest.raises(kind):
        _adapter(httpserver).list_hosts()


def test_timeout_is_unavailable(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.5)
        return _json({"items": []})

    httpserver.expect_request("/api/v1/nodes").respond_with_handler(slow)
    with pytest.raises(Unavailable):
        _adapter(httpserver, timeout_s=0.3).list_hosts()


def test_quantities() -> None:
    assert quantity("500m") == 0.5 and quantity("2") == 2 and quantity("16Gi") == 16 * 2**30
    assert quantity("24183n") == pytest.approx(24183e-9) and quantity("1k") == 1000
    with pytest.raises(ValueError):
        quantity("12 apples")


def test_start_stop_patch_run_strategy(httpserver: HTTPServer) -> None:
    bodies: list[dict] = []

    def patch(request: Request) -> Response:
        bodies.append(json.loads(request.data))
        return _json(_load("virtualmachines.json")["items"][0])

    httpserver.expect_request(
        "/apis/kubevirt.io/v1/namespaces/rsj/virtualmachines/rsj-db-01", method="PATCH"
    ).respond_with_handler(patch)
    adapter = _adapter(httpserver)
    adapter.stop_node("kubevirt/rsj/rsj-db-01")
    adapter.start_node("kubevirt/rsj/rsj-db-01")
    assert [b["spec"]["runStrategy"] for b in bodies] == ["Halted", "Always"]
    with pytest.raises(NotFound):
        adapter.stop_node("deployment/ggfw/gft-gateway")
