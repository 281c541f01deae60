"""Raw access to an OpenStack cloud through libcloud's connections: one request's parsed JSON
(by orjson), the cloud's clock from the first answer's `Date`, paging by `*_links` rel=next
and Glance's `next`, and the per-listing caches (flavors, extra specs, images, hypervisors,
host aggregates) that the adapter in providers/libcloud_openstack.py builds records from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson
from libcloud.common.exceptions import exception_from_message
from libcloud.compute.drivers.openstack import OpenStack_1_1_NodeDriver, OpenStack_1_1_Response
from libcloud.compute.types import MalformedResponseError
from libcloud.utils.misc import lowercase_keys

from providers import mapping
from providers.base import ProviderSpec
from providers.boundary import boundary
from providers.errors import AuthError, NotFound
from providers.libcloud_adapter import LibcloudAdapter

Json = dict[str, Any]


def json_dicts(items: Any, what: str) -> list[Json]:
    """A page's list of objects; anything else is a malformed page."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"{what}: expected a list of objects")
    return items


class OpenStackApi(LibcloudAdapter):
    """libcloud's OpenStack_2 driver and the raw calls the adapter reads through."""

    def __init__(self, spec: ProviderSpec, driver: Any = None) -> None:
        super().__init__(spec, driver)
        self._all_tenants = mapping.as_bool(spec.options.get("all_tenants", spec.options.get("ex_all_tenants", False)))
        self._extra_specs: dict[str, dict[str, str]] = {}
        self._cloud_time: datetime | None = None
        _parse_json_with_orjson(self.driver)

    def cloud_time(self) -> datetime | None:
        """The `Date` of the first API answer this adapter read (see ReadsCloudClock)."""
        return self._cloud_time

    def _answer(self, conn: Any, path: str, **kwargs: Any) -> Any:
        """One request's parsed body; the first answer's `Date` header is the cloud's clock."""
        resp = conn.request(path, **kwargs)
        if self._cloud_time is None:
            self._cloud_time = http_date(getattr(resp, "headers", None) or {})
        return resp.object

    # ------------------------------------------------------------------ raw access

    def _get(self, conn: Any, path: str, params: Mapping[str, Any] | None = None) -> Json:
        body = self._answer(conn, path, params=dict(params or {}))
        if not isinstance(body, dict):
            raise ValueError(f"{path}: expected a JSON object")
        return body

    def _pages(
        self,
        conn: Any,
        path: str,
        key: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[Json]:
        """All pages of a Nova/Neutron/Cinder listing (`<key>_links` rel=next), as libcloud's
        own `_paginated_request` walks them, plus request headers (API microversions)."""
        query: dict[str, Any] = dict(params or {})
        items: list[Json] = []
        seen: set[str] = set()
        while True:
            body = self._answer(conn, path, params=query, headers=dict(headers or {}))
            if not isinstance(body, dict):
                raise ValueError(f"{path}: expected a JSON object")
            items.extend(json_dicts(body.get(key, []), key))
            links = body.get(f"{key}_links") or []
            following = [link for link in links if isinstance(link, dict) and link.get("rel") == "next"]
            if not following:
                return items
            href = str(following[0].get("href", ""))
            if href in seen:  # a server repeating its next link would loop forever
                raise ValueError(f"{path}: pagination repeats {href}")
            seen.add(href)
            query.update(parse_qs(urlparse(href).query))

    def _optional(self, call: str, fn: Callable[[], Any], default: Any) -> Any:
        """An enrichment call: a forbidden or absent API leaves the default, other errors raise."""
        try:
            with boundary(self.name, call):
                return fn()
        except (AuthError, NotFound):
            return default

    @property
    def _compute(self) -> Any:
        return self.driver.connection

    @property
    def _network(self) -> Any:
        return self.driver.network_connection

    @property
    def _image(self) -> Any:
        return self.driver.image_connection

    def _volume_conn(self) -> Any:
        return self.driver._get_volume_connection()

    # ------------------------------------------------------------------ lookups

    def _flavors(self) -> dict[str, Json]:
        flavors = self._pages(self._compute, "/flavors/detail", "flavors")
        return {str(f["id"]): f for f in flavors}

    def _flavor_specs(self, flavor: Mapping[str, Any]) -> dict[str, str]:
        """Extra specs of one flavor: embedded (microversion >= 2.61) or one call, cached."""
        fid = str(flavor.get("id", flavor.get("original_name", "")))
        embedded = flavor.get("extra_specs", flavor.get("OS-FLV-WITH-EXT-SPECS:extra_specs"))
        if isinstance(embedded, dict):
            return {str(k): str(v) for k, v in embedded.items()}
        if fid not in self._extra_specs:
            body = self._optional(
                "list_flavor_extra_specs",
                lambda: self._get(self._compute, f"/flavors/{fid}/os-extra_specs"),
                {},
            )
            specs = body.get("extra_specs", {}) if isinstance(body, dict) else {}
            self._extra_specs[fid] = {str(k): str(v) for k, v in specs.items()} if isinstance(specs, dict) else {}
        return self._extra_specs[fid]

    def _glance_images(self) -> list[Json]:
        # Glance pages 25 images by default; ask for its usual maximum to save round trips.
        items = self.driver._paginated_request_next(
            path="/v2/images?limit=1000", request_method=self._image.request, response_key="images"
        )
        return json_dicts(items, "images")

    def _hypervisors(self) -> list[Json]:
        return self._pages(self._compute, "/os-hypervisors/detail", "hypervisors")

    def _host_groups(self) -> tuple[dict[str, str], dict[str, str]]:
        """Host name -> rack and host name -> availability zone, from os-aggregates (`rack`
        metadata, `availability_zone`); admin-only, so both may be empty."""
        body = self._optional("list_aggregates", lambda: self._get(self._compute, "/os-aggregates"), {})
        racks: dict[str, str] = {}
        zones: dict[str, str] = {}
        for agg in json_dicts(body.get("aggregates", []), "aggregates"):
            rack = (agg.get("metadata") or {}).get("rack")
            zone = agg.get("availability_zone") or (agg.get("metadata") or {}).get("availability_zone")
            for host in agg.get("hosts") or []:
                if rack:
                    racks[str(host)] = str(rack)
                if zone:
                    zones[str(host)] = str(zone)
        return racks, zones


def http_date(headers: Mapping[str, Any]) -> datetime | None:
    """An HTTP `Date` header (libcloud lower-cases header names) as an aware datetime."""
    value = headers.get("date") or headers.get("Date")
    if not isinstance(value, str):
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def present(values: dict[str, Any]) -> dict[str, Any]:
    """Extras built from parsed API JSON are JSON-ready already: only drop the absent ones.
    (The generic `_plain` walks SDK objects and costs a recursion per value on every record.)"""
    return {k: v for k, v in values.items() if v is not None}


class _OrjsonResponse(OpenStack_1_1_Response):
    """libcloud's OpenStack response with the JSON body parsed by orjson from the bytes read.

    libcloud's own `Response.__init__` decodes a body to text twice (`response.text` is a
    fresh decode each time) and `json.loads` the text: for listings of thousands of servers
    that is most of the client's CPU. This is the same constructor, keeping the bytes; the
    text is decoded only when something (an error message) asks for `body`."""

    def __init__(self, response: Any, connection: Any) -> None:  # libcloud's own signature
        self.node_driver = OpenStack_1_1_NodeDriver  # type: ignore[assignment]
        self.connection = connection
        self.headers = lowercase_keys(dict(response.headers))  # type: ignore[no-untyped-call]
        self.error = response.reason
        self.status = response.status_code
        self.request = response.request
        self.iter_content = response.iter_content
        self._content: bytes = response.content or b""
        if not self.success():  # type: ignore[no-untyped-call]
            error = self.parse_error()  # type: ignore[no-untyped-call]
            raise exception_from_message(code=self.status, message=error, headers=self.headers)  # type: ignore[no-untyped-call]
        self.object = self.parse_body()

    @property
    def body(self) -> str:
        return self._content.decode("utf-8", "replace").strip()

    @body.setter
    def body(self, value: Any) -> None:
        self._content = value.encode() if isinstance(value, str) else bytes(value or b"")

    def parse_body(self) -> Any:
        if self.status != 204 and self._content.strip() and self.has_content_type("application/json"):  # type: ignore[no-untyped-call]
            try:
                return orjson.loads(self._content)
            except orjson.JSONDecodeError:
                raise MalformedResponseError("Failed to parse JSON", body=self.body, driver=self.node_driver) from None
        return super().parse_body()  # type: ignore[no-untyped-call]


def _parse_json_with_orjson(driver: Any) -> None:
    for name in ("connection", "image_connection", "network_connection", "volumev2_connection", "volumev3_connection"):
        conn = getattr(driver, name, None)
        if conn is not None and getattr(conn, "responseCls", None) is OpenStack_1_1_Response:
            conn.responseCls = _OrjsonResponse


__all__ = ["Json", "OpenStackApi", "http_date", "json_dicts", "present"]
