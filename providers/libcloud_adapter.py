"""Any libcloud compute driver as a ganyun Provider.

`LibcloudAdapter` maps libcloud's generic objects (Node, NodeSize, NodeImage, StorageVolume,
VolumeSnapshot) to our records, with heuristics on `extra` for what each driver exposes
(architecture, instance type, tags). It declares what libcloud's compute API offers; a call
this particular driver does not implement raises NotFound ("not supported by this driver"),
as libcloud itself raises NotImplementedError, so that sync leaves that kind empty with a
warning. OpenStack gets a richer subclass in providers/libcloud_openstack.py.

libcloud has no type stubs: driver objects are `Any` here, and nothing of them leaves.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from functools import partial
from typing import Any, TypeVar

from providers import mapping
from providers.base import (
    Capability,
    Image,
    Network,
    Node,
    Placement,
    ProviderSpec,
    SecurityGroup,
    SecurityRule,
    Size,
    Snapshot,
    State,
    Volume,
)
from providers.boundary import boundary
from providers.errors import ConfigError, GanyunError, NotFound
from providers.masking import SECRETS

T = TypeVar("T")

# Options the adapter consumes itself instead of handing them to the driver constructor.
ADAPTER_OPTIONS = frozenset({"all_tenants", "ex_all_tenants", "verify_ssl", "ca_cert"})

# Drivers whose Node.id is not stable, so the domain UUID (libcloud's `extra["uuid"]`) is used.
_IDENTIFIED_BY_UUID = frozenset({"libvirt"})
# virDomainState -> our state (libvirt-domain.h: nostate, running, blocked, paused, shutdown,
# shutoff, crashed, pmsuspended).
_LIBVIRT_STATES = {
    0: State.UNKNOWN,
    1: State.RUNNING,
    2: State.RUNNING,
    3: State.SUSPENDED,
    4: State.STOPPED,
    5: State.STOPPED,
    6: State.ERROR,
    7: State.SUSPENDED,
}


def load_driver_class(driver_name: str) -> Any:
    """libcloud's compute driver class for its driver name, or ConfigError naming it."""
    from libcloud.compute.providers import get_driver

    try:
        return get_driver(driver_name.lower())
    except (AttributeError, ImportError, KeyError) as exc:
        raise ConfigError(f"unknown provider driver '{driver_name}' (not a libcloud compute driver)") from exc


def is_libcloud_driver(driver_name: str) -> bool:
    """Whether libcloud has a compute driver of this name (its module is imported to tell)."""
    try:
        load_driver_class(driver_name)
    except ConfigError:
        return False
    return True


def build_driver(spec: ProviderSpec) -> Any:
    """Instantiate the driver: key/secret positional, options as keywords, our timeout."""
    import libcloud.security

    cls = load_driver_class(spec.driver)
    options = {k: v for k, v in spec.options.items() if k not in ADAPTER_OPTIONS}
    if "verify_ssl" in spec.options:
        # libcloud only has a process-wide switch; it is only ever relaxed for lab setups.
        libcloud.security.VERIFY_SSL_CERT = mapping.as_bool(spec.options["verify_ssl"])
    if spec.options.get("ca_cert"):
        libcloud.security.CA_CERTS_PATH = str(spec.options["ca_cert"])
    if spec.driver.lower() == "openstack":
        # libcloud defaults to the Nova 1.1 driver, which has no Glance/Neutron/Cinder connections.
        options.setdefault("api_version", "2.0")
    params = inspect.signature(cls.__init__).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "timeout" in params or takes_kwargs:
        options.setdefault("timeout", spec.timeout_s)
    args: list[Any] = []
    if spec.key or spec.secret:
        args.append(spec.key)
        args.append(spec.secret)
    with boundary(spec.name, "connect"):
        try:
            return cls(*args, **options)
        except TypeError as exc:
            raise ConfigError(f"providers[{spec.name}].options: {exc}") from exc


def _not_supported(provider: str, call: str) -> NotFound:
    return NotFound(provider, call, "not supported by this driver")


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None and v != "" and v != [] and v != {}:
            return v
    return None


def _s(*values: Any) -> str:
    """The first present value as a string, else ''."""
    v = _first(*values)
    return "" if v is None else str(v)


# Drivers whose NodeSize.ram is in GiB rather than libcloud's documented MiB.
_RAM_IN_GIB = frozenset({"aliyun_ecs", "ecs", "aliyun"})


class LibcloudAdapter:
    """A Provider over one libcloud compute driver."""

    features = frozenset(
        {
            Capability.SIZES,
            Capability.IMAGES,
            Capability.VOLUMES,
            Capability.SNAPSHOTS,
            Capability.NETWORKS,
            Capability.SECURITY_GROUPS,
            Capability.POWER,
            Capability.CREATE_NODE,
            Capability.DESTROY_NODE,
            Capability.NODE_METADATA,
            Capability.NODE_SNAPSHOT,
        }
    )

    def __init__(self, spec: ProviderSpec, driver: Any = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.driver: Any = driver if driver is not None else build_driver(spec)
        SECRETS.watch(self._auth_tokens)

    def _auth_tokens(self) -> list[str]:
        """The tokens the driver's connections hold (Keystone's and the like), once obtained:
        an endpoint that echoes request headers must not put them in a message."""
        given = getattr(self.driver, "_ex_force_auth_token", None)  # a token passed as an option
        found = [given] if isinstance(given, str) else []
        for conn in vars(self.driver).values():
            token = getattr(conn, "auth_token", None)
            if isinstance(token, str):
                found.append(token)
        return found

    # ------------------------------------------------------------------ helpers

    def _call(self, call: str, fn: Callable[[], T]) -> T:
        """Run one SDK call at the boundary; unimplemented calls become NotFound."""
        with boundary(self.name, call):
            try:
                return fn()
            except NotImplementedError:
                raise _not_supported(self.name, call) from None

    def _method(self, call: str, *names: str) -> Callable[..., Any]:
        for n in names:
            fn = getattr(self.driver, n, None)
            if callable(fn):
                return fn  # type: ignore[no-any-return]
        raise _not_supported(self.name, call)

    def _map_all(self, call: str, items: Iterable[Any], fn: Callable[[Any], T]) -> list[T]:
        with boundary(self.name, call):
            return [fn(item) for item in items]

    # ------------------------------------------------------------------ listings

    def list_nodes(self) -> Sequence[Node]:
        nodes = self._call("list_nodes", lambda: self.driver.list_nodes())
        sizes: dict[str, Any] = {}
        images: dict[str, Any] = {}
        # Enrichment: one sizes and one images listing, never a call per node; a failure here
        # only leaves fields empty, the node listing itself succeeded.
        if any(getattr(n, "size", None) is None for n in nodes):
            with suppress(GanyunError):
                sizes = {str(s.id): s for s in self._call("list_sizes", lambda: self.driver.list_sizes())}
        if any(getattr(n, "image", None) is None for n in nodes):
            with suppress(GanyunError):
                images = {str(i.id): i for i in self._call("list_images", lambda: self.driver.list_images())}
        return self._map_all("list_nodes", nodes, lambda n: self._node(n, sizes, images))

    def _ram_mb(self, size: Any) -> int:
        ram = getattr(size, "ram", None)
        if ram is None:
            return 0
        scale = 1024 if self.spec.driver.lower() in _RAM_IN_GIB else 1
        return int(float(ram) * scale)

    def _node(self, n: Any, sizes: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> Node:
        if n.id is None or n.id == "":
            raise ValueError("node without an id")
        extra: dict[str, Any] = dict(n.extra or {})
        size_id = _s(
            getattr(getattr(n, "size", None), "id", None),
            extra.get("instance_type"),
            extra.get("flavorId"),
            extra.get("size"),
        )
        size = getattr(n, "size", None) or sizes.get(size_id)
        image_id = _s(getattr(getattr(n, "image", None), "id", None), extra.get("image_id"), extra.get("imageId"))
        image = getattr(n, "image", None) or (images or {}).get(image_id)
        image_extra: dict[str, Any] = dict(getattr(image, "extra", None) or {})
        image_name = _s(getattr(image, "name", None), extra.get("image_name"))
        vcpus = mapping.as_int(_first(extra.get("vcpus"), extra.get("cpu"), extra.get("cpus"), _size_vcpus(size)))
        ram = mapping.as_int(_first(extra.get("memory"), extra.get("ram"))) or self._ram_mb(size)
        disk = mapping.as_int(_first(getattr(size, "disk", None), extra.get("disk"), extra.get("disk_size")))
        arch = (
            mapping.normalize_arch(_first(extra.get("architecture"), extra.get("arch"), extra.get("cpu_architecture")))
            or mapping.normalize_arch(image_extra.get("architecture"))
            or mapping.arch_from_text(image_name)
        )
        os_family = mapping.normalize_os(
            extra.get("os_type") if extra.get("os_type") not in ("linux", "Linux") else None,
            extra.get("platform"),
            extra.get("os_name"),
            extra.get("guest_os"),
            image_extra.get("os_distro"),
            image_extra.get("platform"),
            image_extra.get("os_name"),
            image_name,
        )
        tags = mapping.string_tags(_first(extra.get("tags"), extra.get("metadata"), extra.get("labels"), {}))
        vendor = mapping.normalize_vendor(_s(extra.get("cpu_vendor"), extra.get("processor"))) or (
            mapping.vendor_from_arch(arch)
        )
        ips = tuple(ip for ip in [*(n.private_ips or []), *(n.public_ips or [])] if ip)
        return Node(
            provider=self.name,
            id=self._node_id(n),
            name=str(n.name or n.id),
            state=self._libvirt_state(n) if self.spec.driver == "libvirt" else mapping.normalize_state(n.state),
            extra=mapping.plain_data(extra),
            vcpus=vcpus,
            ram_mb=ram,
            disk_gb=disk,
            arch=arch,
            cpu_vendor=vendor,
            os_family=os_family,
            ips=ips,
            host=_s(extra.get("hypervisor_hostname"), extra.get("host")),
            image=image_id,
            size=size_id,
            created_at=mapping.parse_time(
                _first(getattr(n, "created_at", None), extra.get("creation_time"), extra.get("created"))
            ),
            tags=tags,
        )

    def list_sizes(self) -> Sequence[Size]:
        sizes = self._call("list_sizes", lambda: self.driver.list_sizes())
        return self._map_all("list_sizes", sizes, self._size)

    def _size(self, s: Any) -> Size:
        extra = dict(s.extra or {})
        return Size(
            provider=self.name,
            id=str(s.id),
            name=str(s.name or s.id),
            extra=mapping.plain_data(extra),
            vcpus=_size_vcpus(s),
            ram_mb=self._ram_mb(s),
            disk_gb=mapping.as_int(s.disk),
            arch=mapping.normalize_arch(_first(extra.get("architecture"), extra.get("cpu_architecture")))
            or mapping.arch_from_text(str(s.name or "")),
        )

    def list_images(self) -> Sequence[Image]:
        images = self._call("list_images", lambda: self.driver.list_images())
        return self._map_all("list_images", images, self._image)

    def _image(self, i: Any) -> Image:
        extra = dict(i.extra or {})
        name = str(i.name or "")
        return Image(
            provider=self.name,
            id=str(i.id),
            name=name or str(i.id),
            state=mapping.normalize_state(_first(extra.get("status"), extra.get("state"), "available")),
            extra=mapping.plain_data(extra),
            arch=mapping.normalize_arch(_first(extra.get("architecture"), extra.get("arch")))
            or mapping.arch_from_text(name),
            os_family=mapping.normalize_os(
                extra.get("os_distro"), extra.get("os_type"), extra.get("platform"), extra.get("os_name"), name
            ),
            os_version=_s(extra.get("os_version")),
            disk_format=_s(extra.get("disk_format"), extra.get("format")),
            size_bytes=mapping.as_int(_first(extra.get("size"), extra.get("size_bytes"))),
            checksum=_s(extra.get("checksum")),
        )

    def list_volumes(self) -> Sequence[Volume]:
        volumes = self._call("list_volumes", lambda: self.driver.list_volumes())
        return self._map_all("list_volumes", volumes, self._volume)

    def _volume(self, v: Any) -> Volume:
        extra = dict(v.extra or {})
        attached: list[str] = []
        for att in extra.get("attachments") or []:
            if isinstance(att, Mapping) and _first(att.get("server_id"), att.get("serverId")):
                attached.append(_s(att.get("server_id"), att.get("serverId")))
        for key in ("instance_id", "node_id"):
            if extra.get(key):
                attached.append(str(extra[key]))
        encrypted = extra.get("encrypted")
        return Volume(
            provider=self.name,
            id=str(v.id),
            name=str(v.name or v.id),
            state=mapping.normalize_state(_first(getattr(v, "state", None), extra.get("state"), "unknown")),
            extra=mapping.plain_data(extra),
            size_gb=mapping.as_int(v.size),
            volume_type=_s(extra.get("volume_type"), extra.get("category"), extra.get("type")),
            attached_to=tuple(dict.fromkeys(attached)),
            encrypted=None if encrypted is None else mapping.as_bool(encrypted),
            bootable=mapping.as_bool(extra.get("bootable", False)),
            tags=mapping.string_tags(_first(extra.get("tags"), extra.get("metadata"), {})),
        )

    def list_snapshots(self) -> Sequence[Snapshot]:
        lister = getattr(self.driver, "ex_list_snapshots", None) or getattr(self.driver, "list_snapshots", None)
        if callable(lister):
            snaps = self._call("list_snapshots", lambda: list(lister()))
        else:
            per_volume = self._method("list_snapshots", "list_volume_snapshots")
            volumes = self._call("list_snapshots", lambda: self.driver.list_volumes())
            snaps = []
            for vol in volumes:
                snaps.extend(self._call("list_snapshots", partial(per_volume, vol)))
        return self._map_all("list_snapshots", snaps, self._snapshot)

    def _snapshot(self, s: Any) -> Snapshot:
        extra = dict(s.extra or {})
        return Snapshot(
            provider=self.name,
            id=str(s.id),
            name=_s(getattr(s, "name", None), extra.get("name"), s.id),
            state=mapping.normalize_state(_first(getattr(s, "state", None), extra.get("status"), "unknown")),
            extra=mapping.plain_data(extra),
            volume_id=_s(extra.get("volume_id"), extra.get("source_disk_id")),
            size_gb=mapping.as_int(s.size),
            created_at=mapping.parse_time(getattr(s, "created", None)),
        )

    def list_networks(self) -> Sequence[Network]:
        lister = self._method("list_networks", "ex_list_networks")
        nets = self._call("list_networks", lambda: lister())
        return self._map_all("list_networks", nets, self._network)

    def _network(self, n: Any) -> Network:
        extra = dict(getattr(n, "extra", None) or {})
        cidr = _first(getattr(n, "cidr", None), getattr(n, "cidr_block", None), extra.get("cidr_block"))
        return Network(
            provider=self.name,
            id=str(n.id),
            name=str(getattr(n, "name", None) or n.id),
            state=mapping.normalize_state(_first(extra.get("state"), extra.get("status"), "unknown")),
            extra=mapping.plain_data(extra),
            cidrs=(str(cidr),) if cidr else (),
        )

    def list_security_groups(self) -> Sequence[SecurityGroup]:
        lister = self._method("list_security_groups", "ex_list_security_groups", "ex_get_security_groups")
        groups = self._call("list_security_groups", lambda: lister())
        return self._map_all("list_security_groups", groups, self._security_group)

    def _security_group(self, g: Any) -> SecurityGroup:
        if isinstance(g, str):  # some drivers list names only
            return SecurityGroup(provider=self.name, id=g, name=g)
        rules = []
        for r in list(getattr(g, "rules", None) or []) + list(getattr(g, "ingress_rules", None) or []):
            get = r.get if isinstance(r, Mapping) else lambda k, _r=r: getattr(_r, k, None)
            rules.append(
                SecurityRule(
                    direction=_s(get("direction"), "ingress"),
                    protocol=_s(get("ip_protocol"), get("protocol"), "any"),
                    port_min=_opt_int(_first(get("from_port"), get("port_range_min"))),
                    port_max=_opt_int(_first(get("to_port"), get("port_range_max"))),
                    remote_cidr=_s(get("ip_range"), get("cidr_ips"), get("remote_ip_prefix")),
                )
            )
        return SecurityGroup(
            provider=self.name,
            id=_s(getattr(g, "id", None), getattr(g, "name", None)),
            name=_s(getattr(g, "name", None), getattr(g, "id", None)),
            extra=mapping.plain_data(dict(getattr(g, "extra", None) or {})),
            rules=tuple(rules),
        )

    # ------------------------------------------------------------------ actions

    def _node_id(self, n: Any) -> str:
        """The node's stable identity: libcloud's `id`, except where that changes over the
        node's life (libvirt's is the running domain's number, -1 once stopped)."""
        if self.spec.driver in _IDENTIFIED_BY_UUID:
            return str((getattr(n, "extra", None) or {}).get("uuid") or n.uuid)
        return str(n.id)

    def _libvirt_state(self, n: Any) -> State:
        """libcloud reports every libvirt domain that is not running as terminated, but a
        listed domain still exists: shut off is stopped, paused is suspended. Read it again."""
        try:
            code = self.driver._get_domain_for_uuid(self._node_id(n)).info()[0]
        except Exception:  # the domain went away between the listing and this call
            return State.TERMINATED
        return _LIBVIRT_STATES.get(int(code), State.UNKNOWN)

    def _find_node(self, call: str, node_id: str) -> Any:
        if self.spec.driver in _IDENTIFIED_BY_UUID:
            getter = getattr(self.driver, "ex_get_node_by_uuid", None)
        else:
            getter = getattr(self.driver, "ex_get_node", None) or getattr(self.driver, "ex_get_node_details", None)
        if callable(getter):
            node = self._call(call, lambda: getter(node_id))
            if node is not None:
                return node
        for n in self._call(call, lambda: self.driver.list_nodes()):
            if self._node_id(n) == node_id:
                return n
        raise NotFound(self.name, call, f"no node {node_id}")

    def _find(self, call: str, lister: str, item_id: str) -> Any:
        for item in self._call(call, lambda: getattr(self.driver, lister)()):
            if str(item.id) == item_id:
                return item
        raise NotFound(self.name, call, f"no {lister.removeprefix('list_').rstrip('s')} {item_id}")

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
        size = self._find("create_node", "list_sizes", size_id)
        image = self._find("create_node", "list_images", image_id)
        kwargs: dict[str, Any] = {}
        if network_ids:
            nets = [n for n in self._call("create_node", lambda: self._method("create_node", "ex_list_networks")())]
            kwargs["networks"] = [n for n in nets if str(n.id) in set(network_ids)]
        if metadata:
            kwargs["ex_metadata"] = dict(metadata)
        node = self._call("create_node", lambda: self.driver.create_node(name=name, size=size, image=image, **kwargs))
        return self._map_all("create_node", [node], lambda n: self._node(n, {}, {}))[0]

    def _node_action(self, call: str, method: str, node_id: str) -> None:
        node = self._find_node(call, node_id)
        fn = self._method(call, method)
        self._call(call, lambda: fn(node))

    def start_node(self, node_id: str) -> None:
        self._node_action("start_node", "start_node", node_id)

    def stop_node(self, node_id: str) -> None:
        self._node_action("stop_node", "stop_node", node_id)

    def destroy_node(self, node_id: str) -> None:
        self._node_action("destroy_node", "destroy_node", node_id)

    def get_node(self, node_id: str) -> Node:
        node = self._find_node("get_node", node_id)
        return self._map_all("get_node", [node], lambda n: self._node(n, {}, {}))[0]

    def set_node_metadata(self, node_id: str, metadata: Mapping[str, str]) -> None:
        node = self._find_node("set_node_metadata", node_id)
        fn = self._method("set_node_metadata", "ex_set_metadata", "ex_create_tags")
        self._call("set_node_metadata", lambda: fn(node, dict(metadata)))

    def create_snapshot(self, node_id: str, name: str) -> Image:
        node = self._find_node("create_snapshot", node_id)
        image = self._call("create_snapshot", lambda: self.driver.create_image(node, name))
        return self._map_all("create_snapshot", [image], self._image)[0]

    def delete_image(self, image_id: str) -> None:
        image = self._call("delete_image", lambda: self.driver.get_image(image_id))
        self._call("delete_image", lambda: self.driver.delete_image(image))


def _size_vcpus(size: Any) -> int:
    if size is None:
        return 0
    extra = getattr(size, "extra", None) or {}
    return mapping.as_int(
        _first(getattr(size, "vcpus", None), extra.get("vcpus"), extra.get("cpu"), extra.get("cpu_core_count"))
    )


def _opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return mapping.as_int(value)
