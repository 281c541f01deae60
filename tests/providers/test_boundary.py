"""The SDK boundary: what the other side caused becomes a ProviderError; a bug in ganyun's own
code (TypeError, AttributeError, NameError raised by our frames) passes through as a bug."""

from __future__ import annotations

import functools
import json

import pytest

from providers import boundary as boundary_module
from providers import libcloud_adapter, mapping
from providers.base import Node, ProviderSpec
from providers.boundary import boundary, is_own_bug
from providers.errors import BadResponse, NotFound, Unavailable
from providers.registry import create_provider


def _dummy() -> libcloud_adapter.LibcloudAdapter:
    adapter = create_provider(ProviderSpec(name="dummy-cloud", driver="dummy", options={"creds": "0"}))
    assert isinstance(adapter, libcloud_adapter.LibcloudAdapter)
    return adapter


def _libcloud_openstack() -> object:
    from libcloud.compute.drivers.openstack import OpenStack_2_NodeDriver

    return OpenStack_2_NodeDriver(
        "user", "password", ex_force_auth_url="http://127.0.0.1:9", ex_force_auth_version="3.x_password",
        ex_tenant_name="demo",
    )  # fmt: skip


# --------------------------------------------------------------------------- a bug stays a bug


def test_a_renamed_record_field_in_our_mapping_is_a_type_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if Node lost a field the mapping still fills: Node(...) fails inside LibcloudAdapter._node.
    monkeypatch.setattr(libcloud_adapter, "Node", functools.partial(Node, no_such_field=1))
    with pytest.raises(TypeError, match="no_such_field"):
        _dummy().list_nodes()


def test_a_missing_helper_in_our_mapping_is_an_attribute_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(mapping, "normalize_os")
    with pytest.raises(AttributeError, match="normalize_os"):
        _dummy().list_nodes()


def test_our_own_type_error_is_not_translated() -> None:
    with pytest.raises(TypeError), boundary("p", "list_nodes"):
        len(5)  # type: ignore[arg-type]
    with pytest.raises(NameError), boundary("p", "list_nodes"):
        eval("undefined_name")  # the evaluated code runs with this module's globals: our frame


# --------------------------------------------------------------------------- garbage is a bad answer


def test_an_sdk_choking_on_garbage_is_a_bad_response() -> None:
    driver = _libcloud_openstack()
    for garbage in ({"servers": "nope"}, {"servers": [1]}):
        shape = r"p: list_nodes: unexpected response shape: TypeError"
        with pytest.raises(BadResponse, match=shape), boundary("p", "list_nodes"):
            driver._to_nodes(garbage)  # type: ignore[attr-defined]
    with pytest.raises(BadResponse, match="missing field 'addresses'"), boundary("p", "list_nodes"):
        driver._to_nodes({"servers": [{"id": "a"}]})  # type: ignore[attr-defined]


def test_answers_our_parsers_refuse_are_bad_responses() -> None:
    with pytest.raises(BadResponse, match="not JSON"), boundary("p", "c"):
        json.loads("<html>oops{")
    with pytest.raises(BadResponse, match="missing field 'status'"), boundary("p", "c"):
        {"id": "x"}["status"]
    with pytest.raises(BadResponse, match="without an id"), boundary("p", "c"):
        raise ValueError("node without an id")
    with pytest.raises(BadResponse, match="without an id"):
        _dummy_with_id_none()


def _dummy_with_id_none() -> None:
    adapter = create_provider(ProviderSpec(name="dummy-cloud", driver="dummy", options={"creds": "3"}))
    adapter.list_nodes()  # libcloud turns the Dummy driver's node id 0 into None


def test_transport_and_our_own_errors_keep_their_meaning() -> None:
    with pytest.raises(Unavailable, match="cannot connect"), boundary("p", "c"):
        raise ConnectionRefusedError(111, "refused")
    with pytest.raises(NotFound), boundary("p", "c"):
        raise NotFound("p", "c", "gone")


def test_origin_skips_the_standard_library() -> None:
    try:
        json.loads(None)  # type: ignore[arg-type]  # raised inside json/, called by this module
    except TypeError as exc:
        assert boundary_module._origin(exc) == "tests" and is_own_bug(exc)
    driver = _libcloud_openstack()
    try:
        driver._to_nodes({"servers": "nope"})  # type: ignore[attr-defined]
    except TypeError as exc:
        assert boundary_module._origin(exc) == "libcloud" and not is_own_bug(exc)
