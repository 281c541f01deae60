"""libcloud's own test mechanism, without requests-mock: swap the connection class.

libcloud's MockHttp replaces `Connection.conn_class` so that drivers talk to a Python
function instead of the network; it needs the requests-mock package, which ganyun does not
install. `fixture_connection(route)` builds the same kind of conn_class with a requests
transport adapter that answers from `route(method, url, body, base)`: the driver, its auth,
its response parsing and its pagination all run unchanged, nothing leaves the process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from libcloud.http import LibcloudConnection
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

Answer = tuple[int, dict[str, str], bytes]
Route = Callable[[str, str, bytes, str], Answer]


class _RouteAdapter(BaseAdapter):
    def __init__(self, route: Route) -> None:
        super().__init__()
        self.route = route

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(str(request.url))
        base = f"{parts.scheme}://{parts.netloc}"
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        status, headers, data = self.route(str(request.method), str(request.url)[len(base) :], bytes(body), base)
        resp = requests.Response()
        resp.status_code = status
        resp.headers = CaseInsensitiveDict(headers)
        resp._content = data
        resp._content_consumed = True  # type: ignore[attr-defined]
        resp.reason = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}.get(status, "Error")
        resp.url = str(request.url)
        resp.request = request
        resp.encoding = "utf-8"
        return resp

    def close(self) -> None:
        return None


def fixture_connection(route: Route) -> type[LibcloudConnection]:
    """A conn_class for `monkeypatch.setattr(Connection, "conn_class", ...)`."""

    class FixtureConnection(LibcloudConnection):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            adapter = _RouteAdapter(route)
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)

    return FixtureConnection
