"""Requests, replies and the helpers every lab service shares: JSON, timestamps, paging, filters."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

NOVA_MAX_LIMIT = 1000
JSON = "application/json"


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None  # streamed instead of body

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, dumps(payload), {"Content-Type": JSON, **(headers or {})})

    @classmethod
    def listing(cls, key: str, items: Iterable[bytes], extra: Mapping[str, Any]) -> Reply:
        """{"<key>": [...pre-rendered items...], **extra} without re-encoding the items."""
        tail = b"".join(b"," + dumps(k) + b":" + dumps(v) for k, v in extra.items())
        body = b'{"' + key.encode() + b'":[' + b",".join(items) + b"]" + tail + b"}"
        return cls(200, body, {"Content-Type": JSON})

    @classmethod
    def error(cls, status: int, message: str) -> Reply:
        names = {
            400: "badRequest",
            401: "unauthorized",
            403: "forbidden",
            404: "itemNotFound",
            409: "conflictingRequest",
        }
        return cls.json(status, {names.get(status, "computeFault"): {"code": status, "message": message}})


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return None


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Urls(Protocol):
    """What building a link needs: the lab's URL of one cloud's service."""

    def url(self, cloud: str, service: str) -> str: ...


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def stamp_now() -> str:
    return ts(datetime.now(UTC))


def cutoff(since: str) -> str:
    """A `changes-since` / time filter value in our timestamp format, so that the strings
    compare in time order."""
    try:
        moment = datetime.fromisoformat(since.replace(" ", "+"))
    except ValueError:
        raise ApiError(400, f"Invalid changes-since value: {since}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return ts(moment)


def new_uuid(token: str, variant: str) -> str:
    """A version-4 UUID from 32 random hex digits, its variant digit chosen by the caller
    (servers, snapshots and images keep theirs apart)."""
    return f"{token[:8]}-{token[8:12]}-4{token[13:16]}-{variant}{token[17:20]}-{token[20:32]}"


def paginate(
    req: Request, order: list[str], default_limit: int, max_limit: int = NOVA_MAX_LIMIT
) -> tuple[list[str], str | None]:
    """(ids of this page, marker for the next page or None)."""
    try:
        limit = int(req.arg("limit", str(default_limit)))
    except ValueError:
        raise ApiError(400, "limit must be an integer") from None
    if limit < 0:
        raise ApiError(400, "limit must be >= 0")
    limit = min(limit or max_limit, max_limit)
    start = 0
    marker = req.arg("marker")
    if marker:
        try:
            start = order.index(marker) + 1
        except ValueError:
            raise ApiError(400, f"marker [{marker}] not found") from None
    page = order[start : start + limit]
    more = start + limit < len(order)
    return page, (page[-1] if more and page else None)


def links(urls: Urls, cloud: str, path: str, req: Request, marker: str | None, key: str) -> dict[str, Any]:
    if marker is None:
        return {}
    # Every value of repeated parameters (Neutron's `fields=a&fields=b`) carries over.
    query = {k: v for k, v in req.query.items() if k != "marker"}
    query["marker"] = [marker]
    query.setdefault("limit", [str(NOVA_MAX_LIMIT)])
    href = f"{urls.url(cloud, path)}?{urlencode(query, doseq=True)}"
    return {f"{key}_links": [{"rel": "next", "href": href}]}


def filtered(items: Iterable[dict[str, Any]], req: Request, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Neutron-style equality filters on top-level scalar fields (?device_id=..., ?name=...)."""
    filters = {k: v[0] for k, v in req.query.items() if k not in ("limit", "marker", "fields", *skip)}
    out = list(items)
    for key, want in filters.items():
        out = [i for i in out if str(i.get(key, "")).lower() == want.lower() or i.get(key) == want]
    return out


def str_map(data: Mapping[str, Any]) -> dict[str, str]:
    """Metadata as Nova and Glance take it: string values only."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise ApiError(400, f"Invalid metadata value for key '{key}': must be a string")
        out[str(key)] = value
    return out


def truncate(req: Request, reply: Reply) -> Reply:
    """The `truncated` fault: the first page gets a next link even when complete; later pages
    are cut mid-body."""
    if "marker" in req.query:
        return Reply(200, reply.body[: len(reply.body) // 2], {"Content-Type": JSON})
    try:
        payload = json.loads(reply.body)
    except ValueError:
        return reply
    if not isinstance(payload, dict):
        return reply
    for key, value in list(payload.items()):
        if isinstance(value, list) and value and isinstance(value[0], dict) and "id" in value[0]:
            query = urlencode({"limit": len(value), "marker": value[-1]["id"]})
            payload[f"{key}_links"] = [{"rel": "next", "href": f"{req.path}?{query}"}]
            if key == "images":
                payload["next"] = f"/v2/images?{query}"
            return Reply.json(200, payload)
    return reply
