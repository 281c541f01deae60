"""OpenStack through libcloud's OpenStack driver, with what the estate's conventions need.

libcloud authenticates (Keystone v3 catalog), finds the nova / glance / neutron / cinder
endpoints; listings are paged by following `*_links` rel=next (Nova, Neutron, Cinder) and
Glance's `next` (libcloud's `_paginated_request_next`). We read the raw JSON pages through those
connections instead of libcloud's objects because the conventions live in fields libcloud
drops or fetches per node: flavor extra specs (`capabilities:cpu_info:arch|vendor`), image
properties (`architecture`, `os_distro`, `os_version`), hypervisor `cpu_info`, aggregates'
`rack`, Cinder encryption types. Listing N servers costs: their pages, one flavors listing,
one extra-specs call per flavor in use, the image pages, one hypervisor listing. Never a call
per server.

File transfers (Glance upload/download) go through `requests` with libcloud's token, because
libcloud's image connection JSON-encodes every request body. Utilization comes from the
provider's Prometheus (providers/prometheus.py), not from an OpenStack API.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from providers import mapping
from providers.base import (
    Capability,
    FloatingIp,
    Host,
    Image,
    Network,
    Node,
    Placement,
    SecurityGroup,
    SecurityRule,
    Size,
    Snapshot,
    Volume,
)
from providers.boundary import boundary, for_status
from providers.errors import BadResponse, NotFound
from providers.libcloud_adapter import LibcloudAdapter
from providers.openstack_api import Json, OpenStackApi, json_dicts, present

# Flavor extra specs of the estate (and of real clouds that expose host CPU traits).
SPEC_ARCH = "capabilities:cpu_info:arch"
SPEC_VENDOR = "capabilities:cpu_info:vendor"

_CHUNK = 1 << 20
# Cinder's time-comparison filters on volume listings (`updated_at=gte:...`) need 3.60.
CINDER_3_60 = {"OpenStack-API-Version": "volume 3.60"}


class OpenStackAdapter(OpenStackApi):
    """The OpenStack records and actions, read and done through the raw calls of OpenStackApi."""

    features = LibcloudAdapter.features | {
        Capability.HOSTS,
        Capability.NODE_DELTA,
        Capability.VOLUME_DELTA,
        Capability.CLOUD_CLOCK,
        Capability.IMPORT_IMAGE,
        Capability.EXPORT_IMAGE,
        Capability.IMAGE_LOOKUP,
        Capability.FLOATING_IPS,
    }

    # ------------------------------------------------------------------ nodes

    def list_nodes(self) -> Sequence[Node]:
        with boundary(self.name, "list_nodes"):
            params = {"all_tenants": 1} if self._all_tenants else {}
            servers = self._pages(self._compute, "/servers/detail", "servers", params)
            return self._nodes(servers)

    def list_node_changes(self, since: datetime) -> tuple[list[Node], list[str]]:
        """Servers changed since `since` (Nova `changes-since`), and the ids deleted meanwhile.

        Nova keeps deleted servers visible to changes-since with status DELETED; those come
        back as ids so that the inventory removes exactly them.
        """
        with boundary(self.name, "list_node_changes"):
            params: dict[str, Any] = {"changes-since": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
            if self._all_tenants:
                params["all_tenants"] = 1
            servers = self._pages(self._compute, "/servers/detail", "servers", params)
            deleted = [str(s["id"]) for s in servers if str(s.get("status", "")).upper() == "DELETED"]
            alive = [s for s in servers if str(s.get("status", "")).upper() != "DELETED"]
            return (self._nodes(alive) if alive else []), deleted

    def _nodes(self, servers: list[Json]) -> list[Node]:
        """Map servers with one flavors, images and hypervisors lookup for the whole batch."""
        flavors = self._optional("list_sizes", self._flavors, {})
        for fid in {str((s.get("flavor") or {}).get("id", "")) for s in servers} - set(flavors) - {""}:
            # Private or deleted flavors are not in the listing; ask for each once.
            one = self._optional("get_size", partial(self._get, self._compute, f"/flavors/{fid}"), {})
            if isinstance(one.get("flavor"), dict):
                flavors[fid] = one["flavor"]
        images = {str(i["id"]): i for i in self._optional("list_images", self._glance_images, [])}
        hosts = {
            str(h.get("hypervisor_hostname", "")): mapping.parse_cpu_info(h.get("cpu_info"))
            for h in self._optional("list_hosts", self._hypervisors, [])
        }
        platforms: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        return [self._server(s, flavors, images, hosts, platforms) for s in servers]

    def _platform(
        self,
        flavor: Mapping[str, Any],
        image: Mapping[str, Any],
        cpu_info: Mapping[str, Any],
        os_type: str | None,
    ) -> tuple[str, str, str]:
        """(arch, cpu_vendor, os_family) from flavor extra specs, image properties, host CPU."""
        specs = self._flavor_specs(flavor) if flavor else {}
        arch = (
            mapping.normalize_arch(specs.get(SPEC_ARCH))
            or mapping.normalize_arch(image.get("architecture"))
            or mapping.normalize_arch(cpu_info.get("arch"))
            or mapping.arch_from_text(image.get("name"))
        )
        vendor = (
            mapping.normalize_vendor(specs.get(SPEC_VENDOR))
            or mapping.normalize_vendor(cpu_info.get("vendor"))
            or mapping.vendor_from_arch(arch)
        )
        return arch, vendor, mapping.normalize_os(image.get("os_distro"), image.get("name"), os_type)

    def _server(
        self,
        s: Json,
        flavors: Mapping[str, Json],
        images: Mapping[str, Json],
        hosts: Mapping[str, Mapping[str, Any]],
        platforms: dict[tuple[Any, ...], tuple[str, str, str]],
    ) -> Node:
        flavor_ref = s.get("flavor") or {}
        flavor = flavor_ref if "vcpus" in flavor_ref else flavors.get(str(flavor_ref.get("id", "")), {})
        image_ref = s.get("image") or {}
        image_id = str(image_ref.get("id", "")) if isinstance(image_ref, dict) else ""
        image = images.get(image_id, {})
        host = str(s.get("OS-EXT-SRV-ATTR:hypervisor_hostname") or "")
        cpu_info = hosts.get(host, {})
        metadata = mapping.string_tags(s.get("metadata") or {})
        # Thousands of servers share a few (flavor, image, host) combinations: derive each once.
        # The key holds the flavor's own specs, so two servers booted from differently specified
        # versions of one flavor name never share an answer.
        embedded = flavor.get("extra_specs", flavor.get("OS-FLV-WITH-EXT-SPECS:extra_specs"))
        flavor_key = (
            (embedded.get(SPEC_ARCH), embedded.get(SPEC_VENDOR))
            if isinstance(embedded, dict)
            else str(flavor.get("id", flavor.get("original_name", "")))
        )
        key = (flavor_key, image_id, host, metadata.get("os_type"))
        platform = platforms.get(key)
        if platform is None:
            platform = platforms[key] = self._platform(flavor, image, cpu_info, metadata.get("os_type"))
        arch, vendor, os_family = platform
        ips: list[str] = []
        for addrs in (s.get("addresses") or {}).values():
            ips.extend(str(a["addr"]) for a in addrs if isinstance(a, dict) and a.get("addr"))
        status = str(s["status"])
        state = mapping.normalize_state(self.driver.NODE_STATE_MAP.get(status, status))
        extra = {
            "status": status,
            "flavor_id": str(flavor_ref.get("id", flavor_ref.get("original_name", ""))),
            "flavor_name": str(flavor.get("name", flavor_ref.get("original_name", ""))),
            "image_name": str(image.get("name", "")),
            "os_version": str(image.get("os_version", "")),
            "availability_zone": s.get("OS-EXT-AZ:availability_zone"),
            "compute_host": s.get("OS-EXT-SRV-ATTR:host"),
            "tenant_id": s.get("tenant_id", s.get("tenantId")),
            "task_state": s.get("OS-EXT-STS:task_state"),
            "power_state": s.get("OS-EXT-STS:power_state"),
            "key_name": s.get("key_name"),
            "volumes_attached": [
                str(v.get("id")) for v in s.get("os-extended-volumes:volumes_attached") or [] if isinstance(v, dict)
            ],
            "security_groups": [str(g.get("name")) for g in s.get("security_groups") or [] if isinstance(g, dict)],
            "cpu_model": str(cpu_info.get("model", "")),
            "fault": (s.get("fault") or {}).get("message") if isinstance(s.get("fault"), dict) else None,
        }
        return Node(
            provider=self.name,
            id=str(s["id"]),
            name=str(s.get("name") or s["id"]),
            state=state,
            extra=present(extra),
            vcpus=mapping.as_int(flavor.get("vcpus")),
            ram_mb=mapping.as_int(flavor.get("ram")),
            disk_gb=mapping.as_int(flavor.get("disk")),
            arch=arch,
            cpu_vendor=vendor,
            os_family=os_family,
            ips=tuple(dict.fromkeys(ips)),
            host=host,
            image=image_id,
            size=str(flavor_ref.get("id", flavor.get("id", ""))),
            created_at=mapping.parse_time(s.get("created")),
            tags=metadata,
        )

    def get_node(self, node_id: str) -> Node:
        with boundary(self.name, "get_node"):
            server = self._get(self._compute, f"/servers/{node_id}")["server"]
            if not isinstance(server, dict):
                raise ValueError("server: expected an object")
            flavors: dict[str, Json] = {}
            fid = str((server.get("flavor") or {}).get("id", ""))
            if fid:
                one = self._optional("get_size", lambda: self._get(self._compute, f"/flavors/{fid}"), {})
                if isinstance(one.get("flavor"), dict):
                    flavors[fid] = one["flavor"]
            images: dict[str, Json] = {}
            iid = str((server.get("image") or {}).get("id", "")) if isinstance(server.get("image"), dict) else ""
            if iid:
                img = self._optional("get_image", lambda: self._get(self._image, f"/v2/images/{iid}"), {})
                if img.get("id"):
                    images[iid] = img
            return self._server(server, flavors, images, {}, {})

    # ------------------------------------------------------------------ hosts

    def list_hosts(self) -> Sequence[Host]:
        with boundary(self.name, "list_hosts"):
            hypervisors = self._hypervisors()
            racks, zones = self._host_groups()
            return [self._host(h, racks, zones) for h in hypervisors]

    def _host(self, h: Json, racks: Mapping[str, str], zones: Mapping[str, str]) -> Host:
        cpu = mapping.parse_cpu_info(h.get("cpu_info"))
        name = str(h.get("hypervisor_hostname") or h["id"])
        service_host = str((h.get("service") or {}).get("host", ""))
        up = str(h.get("state", "up")).lower() == "up"
        enabled = str(h.get("status", "enabled")).lower() == "enabled"
        state = mapping.normalize_state("running" if up and enabled else "stopped" if up else "error")
        return Host(
            provider=self.name,
            id=str(h["id"]),
            name=name,
            state=state,
            extra=mapping.plain_data(
                {
                    "status": h.get("status"),
                    "state": h.get("state"),
                    "host_ip": h.get("host_ip"),
                    "service_host": service_host,
                    "hypervisor_type": h.get("hypervisor_type"),
                    "topology": cpu.get("topology"),
                    "availability_zone": zones.get(name) or zones.get(service_host),
                }
            ),
            vcpus=mapping.as_int(h.get("vcpus")),
            ram_mb=mapping.as_int(h.get("memory_mb")),
            disk_gb=mapping.as_int(h.get("local_gb")),
            vcpus_used=mapping.as_int(h.get("vcpus_used")),
            ram_mb_used=mapping.as_int(h.get("memory_mb_used")),
            disk_gb_used=mapping.as_int(h.get("local_gb_used")),
            arch=mapping.normalize_arch(cpu.get("arch")),
            cpu_vendor=mapping.normalize_vendor(cpu.get("vendor"))
            or mapping.vendor_from_arch(mapping.normalize_arch(cpu.get("arch"))),
            cpu_model=str(cpu.get("model", "")),
            rack=racks.get(name) or racks.get(service_host) or "",
            running_vms=mapping.as_int(h.get("running_vms")),
        )

    # ------------------------------------------------------------------ sizes, images

    def list_sizes(self) -> Sequence[Size]:
        with boundary(self.name, "list_sizes"):
            out = []
            for f in self._flavors().values():
                specs = self._flavor_specs(f)
                out.append(
                    Size(
                        provider=self.name,
                        id=str(f["id"]),
                        name=str(f.get("name") or f["id"]),
                        state=mapping.normalize_state("stopped" if f.get("OS-FLV-DISABLED:disabled") else "running"),
                        extra=mapping.plain_data(
                            {
                                "extra_specs": specs,
                                "is_public": f.get("os-flavor-access:is_public"),
                                "ephemeral_gb": f.get("OS-FLV-EXT-DATA:ephemeral"),
                                "swap": f.get("swap"),
                                "cpu_vendor": mapping.normalize_vendor(specs.get(SPEC_VENDOR)),
                            }
                        ),
                        vcpus=mapping.as_int(f.get("vcpus")),
                        ram_mb=mapping.as_int(f.get("ram")),
                        disk_gb=mapping.as_int(f.get("disk")),
                        arch=mapping.normalize_arch(specs.get(SPEC_ARCH)),
                    )
                )
            return out

    def list_images(self) -> Sequence[Image]:
        with boundary(self.name, "list_images"):
            return [self._glance_image(i) for i in self._glance_images()]

    _IMAGE_FIELDS = frozenset(
        {
            "id",
            "name",
            "status",
            "architecture",
            "os_distro",
            "os_version",
            "disk_format",
            "size",
            "checksum",
            "file",
            "schema",
            "self",
            "locations",
            "direct_url",
        }
    )

    def _glance_image(self, i: Json) -> Image:
        name = str(i.get("name") or i["id"])
        props = {k: v for k, v in i.items() if k not in self._IMAGE_FIELDS}
        return Image(
            provider=self.name,
            id=str(i["id"]),
            name=name,
            state=mapping.normalize_state(i.get("status")),
            extra=mapping.plain_data({**props, "status": i.get("status")}),
            arch=mapping.normalize_arch(i.get("architecture")) or mapping.arch_from_text(name),
            os_family=mapping.normalize_os(i.get("os_distro"), name),
            os_version=str(i.get("os_version") or ""),
            disk_format=str(i.get("disk_format") or ""),
            size_bytes=mapping.as_int(i.get("size")),
            checksum=str(i.get("os_hash_value") or i.get("checksum") or ""),
        )

    # ------------------------------------------------------------------ volumes, snapshots

    def _volume_types(self) -> dict[str, Json]:
        """Type name and id -> its encryption spec ({} = unencrypted); unreadable -> absent."""
        conn = self._volume_conn()
        body = self._optional("list_volume_types", lambda: self._get(conn, "/types"), {})
        out: dict[str, Json] = {}
        for vt in json_dicts(body.get("volume_types", []), "volume_types"):
            tid = str(vt["id"])
            read = partial(self._get, conn, f"/types/{tid}/encryption")
            enc = self._optional("get_volume_type_encryption", read, None)
            if enc is None:
                continue
            spec = enc.get("encryption", enc) if isinstance(enc, dict) else {}
            spec = spec if isinstance(spec, dict) and (spec.get("provider") or spec.get("cipher")) else {}
            out[tid] = spec
            out[str(vt.get("name", tid))] = spec
        return out

    def list_volumes(self) -> Sequence[Volume]:
        with boundary(self.name, "list_volumes"):
            volumes = self._pages(self._volume_conn(), "/volumes/detail", "volumes")
            types = self._volume_types()
            return [self._cinder_volume(v, types) for v in volumes]

    def list_volume_changes(self, since: datetime) -> tuple[list[Volume], list[str]]:
        """Volumes created or updated since `since`, and the ids of every volume now present
        (so the inventory removes exactly the missing ones), through Cinder 3.60's time filters.

        A Cinder without v3 in the catalog, or refusing microversion 3.60, raises NotFound: the
        caller then lists every volume in full.
        """
        with boundary(self.name, "list_volume_changes"):
            conn = self._volume_conn()
            if conn is not getattr(self.driver, "volumev3_connection", None):
                raise NotFound(self.name, "list_volume_changes", "Cinder v3 is not in the catalog")
            stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            changed: dict[str, Json] = {}
            try:
                for column in ("created_at", "updated_at"):
                    found = self._pages(conn, "/volumes/detail", "volumes", {column: f"gte:{stamp}"}, CINDER_3_60)
                    changed.update((str(v["id"]), v) for v in found)
            except BadResponse as exc:
                raise NotFound(self.name, "list_volume_changes", f"time filters refused: {exc.detail}") from None
            present = [str(v["id"]) for v in self._pages(conn, "/volumes", "volumes")]
            types = self._volume_types() if changed else {}
            return [self._cinder_volume(v, types) for v in changed.values()], present

    def _cinder_volume(self, v: Json, types: Mapping[str, Json]) -> Volume:
        vtype = str(v.get("volume_type") or v.get("volumeType") or "")
        enc = types.get(vtype)
        # Cinder reports `encrypted` on each volume; the type tells which cipher.
        encrypted = mapping.as_bool(v["encrypted"]) if "encrypted" in v else (None if enc is None else bool(enc))
        attached = [
            str(a.get("server_id") or a.get("serverId"))
            for a in v.get("attachments") or []
            if isinstance(a, dict) and (a.get("server_id") or a.get("serverId"))
        ]
        return Volume(
            provider=self.name,
            id=str(v["id"]),
            name=str(v.get("name") or v.get("displayName") or v["id"]),
            state=mapping.normalize_state(v.get("status")),
            extra=present(
                {
                    "status": v.get("status"),
                    "availability_zone": v.get("availability_zone"),
                    "snapshot_id": v.get("snapshot_id"),
                    "created_at": v.get("created_at"),
                    "encryption_provider": (enc or {}).get("provider"),
                    "encryption_key_size": (enc or {}).get("key_size"),
                    "encryption_control_location": (enc or {}).get("control_location"),
                    "multiattach": v.get("multiattach"),
                }
            ),
            size_gb=mapping.as_int(v.get("size")),
            volume_type=vtype,
            attached_to=tuple(dict.fromkeys(attached)),
            encrypted=encrypted,
            encryption_cipher=str((enc or {}).get("cipher") or "") if encrypted is not False else "",
            bootable=mapping.as_bool(v.get("bootable", False)),
            tags=mapping.string_tags(v.get("metadata") or {}),
        )

    def list_snapshots(self) -> Sequence[Snapshot]:
        with boundary(self.name, "list_snapshots"):
            snaps = self._pages(self._volume_conn(), "/snapshots/detail", "snapshots")
            return [
                Snapshot(
                    provider=self.name,
                    id=str(s["id"]),
                    name=str(s.get("name") or s.get("display_name") or s["id"]),
                    state=mapping.normalize_state(s.get("status")),
                    extra=mapping.plain_data({"description": s.get("description"), "metadata": s.get("metadata")}),
                    volume_id=str(s.get("volume_id") or s.get("volumeId") or ""),
                    size_gb=mapping.as_int(s.get("size")),
                    created_at=mapping.parse_time(s.get("created_at") or s.get("createdAt")),
                )
                for s in snaps
            ]

    # ------------------------------------------------------------------ networks, security groups

    def list_networks(self) -> Sequence[Network]:
        with boundary(self.name, "list_networks"):
            nets = self._pages(self._network, "/v2.0/networks", "networks")
            subnets = self._pages(self._network, "/v2.0/subnets", "subnets")
            cidrs: dict[str, list[str]] = {}
            for sn in subnets:
                if sn.get("cidr"):
                    cidrs.setdefault(str(sn.get("network_id")), []).append(str(sn["cidr"]))
            return [
                Network(
                    provider=self.name,
                    id=str(n["id"]),
                    name=str(n.get("name") or n["id"]),
                    state=mapping.normalize_state(n.get("status")),
                    extra=mapping.plain_data(
                        {
                            "subnets": n.get("subnets"),
                            "mtu": n.get("mtu"),
                            "network_type": n.get("provider:network_type"),
                            "segmentation_id": n.get("provider:segmentation_id"),
                            "tags": n.get("tags"),
                        }
                    ),
                    cidrs=tuple(cidrs.get(str(n["id"]), ())),
                    shared=mapping.as_bool(n.get("shared", False)),
                    external=mapping.as_bool(n.get("router:external", False)),
                )
                for n in nets
            ]

    def list_security_groups(self) -> Sequence[SecurityGroup]:
        with boundary(self.name, "list_security_groups"):
            groups = self._pages(self._network, "/v2.0/security-groups", "security_groups")
            # Only what membership needs: a port is ~1 KB of JSON, three attributes are ~150 bytes.
            wanted = {"fields": ["device_id", "device_owner", "security_groups"]}
            ports = self._optional("list_ports", lambda: self._pages(self._network, "/v2.0/ports", "ports", wanted), [])
            members: dict[str, list[str]] = {}
            for p in ports:
                device = p.get("device_id")
                if device and str(p.get("device_owner", "compute:")).startswith("compute:"):
                    for gid in p.get("security_groups") or []:
                        members.setdefault(str(gid), []).append(str(device))
            return [self._neutron_group(g, members) for g in groups]

    def _neutron_group(self, g: Json, members: Mapping[str, list[str]]) -> SecurityGroup:
        rules = []
        for r in json_dicts(g.get("security_group_rules") or [], "security_group_rules"):
            remote = r.get("remote_ip_prefix")
            if not remote and r.get("remote_group_id"):
                remote = f"sg:{r['remote_group_id']}"
            rules.append(
                SecurityRule(
                    direction=str(r.get("direction") or "ingress"),
                    protocol=str(r.get("protocol") or "any"),
                    port_min=None if r.get("port_range_min") is None else mapping.as_int(r["port_range_min"]),
                    port_max=None if r.get("port_range_max") is None else mapping.as_int(r["port_range_max"]),
                    remote_cidr=str(remote or ("::/0" if r.get("ethertype") == "IPv6" else "0.0.0.0/0")),
                )
            )
        gid = str(g["id"])
        return SecurityGroup(
            provider=self.name,
            id=gid,
            name=str(g.get("name") or gid),
            state=mapping.normalize_state("active"),
            extra=mapping.plain_data({"description": g.get("description"), "tenant_id": g.get("tenant_id")}),
            rules=tuple(rules),
            attached_to=tuple(dict.fromkeys(members.get(gid, []))),
        )

    # ------------------------------------------------------------------ plain HTTP

    def _token_and_endpoint(self, conn: Any) -> tuple[str, str]:
        conn.get_service_catalog()  # authenticates on first use
        return str(conn.auth_token), str(conn.get_endpoint()).rstrip("/")

    def _http(self, call: str, method: str, url: str, token: str, **kwargs: Any) -> Any:
        """One plain HTTP call with the Keystone token; non-2xx -> our error tree."""
        import libcloud.security
        import requests

        verify: bool | str = libcloud.security.VERIFY_SSL_CERT
        if verify and libcloud.security.CA_CERTS_PATH and isinstance(libcloud.security.CA_CERTS_PATH, str):
            verify = libcloud.security.CA_CERTS_PATH
        headers = {"X-Auth-Token": token, **kwargs.pop("headers", {})}
        resp = requests.request(method, url, headers=headers, timeout=self.spec.timeout_s, verify=verify, **kwargs)
        if not 200 <= resp.status_code < 300:
            # The whole body: for_status masks credentials before it shortens the message.
            raise for_status(self.name, call, resp.status_code, resp.text if not kwargs.get("stream") else "")
        return resp

    # ------------------------------------------------------------------ actions

    def _action(self, call: str, node_id: str, body: Json) -> Any:
        with boundary(self.name, call):
            return self._compute.request(f"/servers/{node_id}/action", method="POST", data=body)

    def create_node(
        self,
        name: str,
        size_id: str,
        image_id: str,
        network_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
        fixed_ips: Sequence[str] = (),
        placement: Placement | None = None,
    ) -> Node:
        """Boot a server; fixed_ips[i] (when given) is the address wanted on network_ids[i].

        `placement` asks Nova for a zone, a host in it (`zone:host`, which Nova's policy keeps
        to some accounts: refused with AuthError otherwise) and scheduler hints."""
        networks: list[Json] = []
        for i, net in enumerate(network_ids):
            entry: Json = {"uuid": net}
            if i < len(fixed_ips) and fixed_ips[i]:
                entry["fixed_ip"] = fixed_ips[i]
            networks.append(entry)
        server: Json = {"name": name, "flavorRef": size_id, "imageRef": image_id}
        if networks:
            server["networks"] = networks
        if metadata:
            server["metadata"] = {str(k): str(v) for k, v in metadata.items()}
        request: Json = {"server": server}
        if placement is not None:
            if placement.zone or placement.host:
                server["availability_zone"] = f"{placement.zone}:{placement.host}" if placement.host else placement.zone
            hints: Json = {}
            if placement.different_host:
                hints["different_host"] = list(placement.different_host)
            if placement.same_host:
                hints["same_host"] = list(placement.same_host)
            if hints:
                request["os:scheduler_hints"] = hints
        with boundary(self.name, "create_node"):
            body = self._compute.request("/servers", method="POST", data=request).object
            node_id = str(body["server"]["id"])
        return self.get_node(node_id)

    def start_node(self, node_id: str) -> None:
        self._action("start_node", node_id, {"os-start": None})

    def stop_node(self, node_id: str) -> None:
        self._action("stop_node", node_id, {"os-stop": None})

    def destroy_node(self, node_id: str) -> None:
        with boundary(self.name, "destroy_node"):
            self._compute.request(f"/servers/{node_id}", method="DELETE")

    def set_node_metadata(self, node_id: str, metadata: Mapping[str, str]) -> None:
        with boundary(self.name, "set_node_metadata"):
            data = {"metadata": {str(k): str(v) for k, v in metadata.items()}}
            self._compute.request(f"/servers/{node_id}/metadata", method="POST", data=data)

    def create_snapshot(self, node_id: str, name: str) -> Image:
        """Nova createImage: an image of the node's root disk in Glance."""
        resp = self._action("create_snapshot", node_id, {"createImage": {"name": name, "metadata": {}}})
        with boundary(self.name, "create_snapshot"):
            body = resp.object if isinstance(resp.object, dict) else {}
            image_id = body.get("image_id") or str(resp.headers.get("location", "")).rstrip("/").rsplit("/", 1)[-1]
            if not image_id:
                raise ValueError("createImage: no image id in the answer")
            return self._glance_image(self._get(self._image, f"/v2/images/{image_id}"))

    def delete_image(self, image_id: str) -> None:
        with boundary(self.name, "delete_image"):
            self._image.request(f"/v2/images/{image_id}", method="DELETE")

    def get_image(self, image_id: str) -> Image:
        with boundary(self.name, "get_image"):
            return self._glance_image(self._get(self._image, f"/v2/images/{image_id}"))

    # ------------------------------------------------------------------ floating IPs (Neutron)

    def _floating_ip(self, f: Json, node_of_port: Mapping[str, str]) -> FloatingIp:
        port = str(f.get("port_id") or "")
        return FloatingIp(
            provider=self.name,
            id=str(f["id"]),
            address=str(f.get("floating_ip_address") or ""),
            network_id=str(f.get("floating_network_id") or ""),
            node_id=node_of_port.get(port, ""),
            port_id=port,
            fixed_ip=str(f.get("fixed_ip_address") or ""),
        )

    def _ports_of(self, node_id: str) -> list[Json]:
        body = self._get(self._network, "/v2.0/ports", {"device_id": node_id})
        return json_dicts(body.get("ports", []), "ports")

    def list_floating_ips(self, node_id: str = "") -> Sequence[FloatingIp]:
        """Every floating IP of the project, or those attached to one node's ports."""
        with boundary(self.name, "list_floating_ips"):
            if node_id:
                ports = {str(p["id"]): node_id for p in self._ports_of(node_id)}
                found = [
                    f
                    for port in ports
                    for f in json_dicts(
                        self._get(self._network, "/v2.0/floatingips", {"port_id": port}).get("floatingips", []),
                        "floatingips",
                    )
                ]
                return [self._floating_ip(f, ports) for f in found]
            items = json_dicts(self._get(self._network, "/v2.0/floatingips").get("floatingips", []), "floatingips")
            attached = {str(f.get("port_id")) for f in items if f.get("port_id")}
            ports = {}
            if attached:
                every = json_dicts(self._get(self._network, "/v2.0/ports").get("ports", []), "ports")
                ports = {str(p["id"]): str(p.get("device_id") or "") for p in every if str(p["id"]) in attached}
            return [self._floating_ip(f, ports) for f in items]

    def create_floating_ip(self, network_id: str, address: str = "") -> FloatingIp:
        """Allocate a floating IP on an external network; `address` asks for that one."""
        spec: Json = {"floating_network_id": network_id}
        if address:
            spec["floating_ip_address"] = address
        with boundary(self.name, "create_floating_ip"):
            body = self._network.request("/v2.0/floatingips", method="POST", data={"floatingip": spec}).object
            return self._floating_ip(body["floatingip"], {})

    def attach_floating_ip(self, floating_ip_id: str, node_id: str) -> FloatingIp:
        """Point the floating IP at the node's first port."""
        with boundary(self.name, "attach_floating_ip"):
            ports = self._ports_of(node_id)
            if not ports:
                raise NotFound(self.name, "attach_floating_ip", f"node {node_id} has no port")
            port = str(ports[0]["id"])
            body = self._network.request(
                f"/v2.0/floatingips/{floating_ip_id}", method="PUT", data={"floatingip": {"port_id": port}}
            ).object
            return self._floating_ip(body["floatingip"], {port: node_id})

    def detach_floating_ip(self, floating_ip_id: str) -> None:
        with boundary(self.name, "detach_floating_ip"):
            self._network.request(
                f"/v2.0/floatingips/{floating_ip_id}", method="PUT", data={"floatingip": {"port_id": None}}
            )

    def delete_floating_ip(self, floating_ip_id: str) -> None:
        with boundary(self.name, "delete_floating_ip"):
            self._network.request(f"/v2.0/floatingips/{floating_ip_id}", method="DELETE")

    def import_image(
        self, name: str, path: str, disk_format: str, properties: Mapping[str, str] | None = None
    ) -> Image:
        """Glance v2 two-step upload: create the record, then PUT the file (streamed)."""
        record: Json = {"name": name, "disk_format": disk_format, "container_format": "bare"}
        record.update({str(k): str(v) for k, v in (properties or {}).items()})
        with boundary(self.name, "import_image"):
            created = self._image.request("/v2/images", method="POST", data=record).object
            image_id = str(created["id"])
            token, url = self._token_and_endpoint(self._image)
            with open(path, "rb") as fh:
                self._http(
                    "import_image",
                    "PUT",
                    f"{url}/v2/images/{image_id}/file",
                    token,
                    data=fh,
                    headers={"Content-Type": "application/octet-stream"},
                )
            return self._glance_image(self._get(self._image, f"/v2/images/{image_id}"))

    def export_image(self, image_id: str, dest_path: str) -> str:
        """Download an image's file to dest_path (atomically), checking Glance's checksum."""
        with boundary(self.name, "export_image"):
            meta = self._get(self._image, f"/v2/images/{image_id}")
            token, url = self._token_and_endpoint(self._image)
            resp = self._http("export_image", "GET", f"{url}/v2/images/{image_id}/file", token, stream=True)
            # Glance's multihash (os_hash_algo/os_hash_value) when we can compute it, else its md5.
            algo = str(meta.get("os_hash_algo") or "")
            if algo and algo in hashlib.algorithms_available and meta.get("os_hash_value"):
                expected = str(meta["os_hash_value"])
            else:
                algo, expected = "md5", str(meta.get("checksum") or "")
            digest = hashlib.new(algo, usedforsecurity=False)
            folder = os.path.dirname(os.path.abspath(dest_path))
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-")
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in resp.iter_content(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                if expected and digest.hexdigest() != expected:
                    raise BadResponse(self.name, "export_image", f"checksum mismatch for image {image_id}")
                os.replace(tmp, dest_path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return dest_path


__all__ = ["SPEC_ARCH", "SPEC_VENDOR", "OpenStackAdapter"]
