"""Parsing: formats, malformed input (clear CryptoError, CLI exit 2) and fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.errors import CryptoError
from security import certs

pytestmark = pytest.mark.xdist_group("chains")


def _der(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(b"-----"):
        return certs.load_certificates(data)[0].public_bytes(serialization.Encoding.DER)
    return data


def test_formats(chains, tmp_path: Path) -> None:
    c = chains["rsa"]
    leaf, inter = certs.load_file(c["leaf"])[0], certs.load_file(c["int"])[0]
    assert certs.load_certificates(_der(c["leaf"])) == [leaf]
    assert certs.load_file(c["bundle"]) == [leaf, inter]
    p7 = pkcs7.serialize_certificates([leaf, inter], serialization.Encoding.DER)
    assert set(certs.load_certificates(p7)) == {leaf, inter}  # a SET: order is not kept
    assert certs.leaf_first(certs.load_certificates(p7))[0] == leaf
    p7pem = pkcs7.serialize_certificates([leaf], serialization.Encoding.PEM)
    assert certs.load_certificates(p7pem) == [leaf]
    key = serialization.load_pem_private_key(c["leaf_key"].read_bytes(), None)
    p12 = pkcs12.serialize_key_and_certificates(
        b"x", key, leaf, [inter], serialization.BestAvailableEncryption(b"pw"))  # type: ignore[arg-type]
    assert certs.load_certificates(p12, b"pw") == [leaf, inter]
    with pytest.raises(CryptoError, match="wrong password"):
        certs.load_certificates(p12, b"nope")
    with pytest.raises(CryptoError, match="no password"):
        certs.load_certificates(p12)
    (tmp_path / "b.p12").write_bytes(p12)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"garbage garbage", "not DER"),
        (b"-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n", "malformed PEM"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "no CERTIFICATE"),
        (b"\x30\x82\x01\x00" + b"\x00" * 10, "truncated"),
    ],
)
def test_malformed_inputs(content: bytes, message: str) -> None:
    with pytest.raises(CryptoError, match=message):
        certs.load_certificates(content)


def test_duplicate_extension_is_malformed(chains) -> None:
    """RFC 5280 allows each extension once; a tenant's certificate naming the key identifier
    twice is refused when loaded, not when a later reader trips over it."""
    der = _der(chains["rsa"]["leaf"])
    aki_oid, ski_oid = bytes.fromhex("0603551d23"), bytes.fromhex("0603551d0e")
    assert aki_oid in der and ski_oid in der
    with pytest.raises(CryptoError, match="malformed certificate: extensions"):
        certs.load_der_certificate(der.replace(aki_oid, ski_oid), "tenant certificate")


def test_truncated_der_and_cli_exit_2(cli, chains, tmp_path: Path) -> None:
    der = _der(chains["sm2"]["leaf"])
    (tmp_path / "t.der").write_bytes(der[: len(der) // 2])
    code, _, err = cli("certs", "verify", str(tmp_path / "t.der"))
    assert code == 2 and "truncated" in err and err.count("\n") == 1 and "Traceback" not in err


def test_huge_file_is_refused_quickly(cli, tmp_path: Path) -> None:
    big = tmp_path / "big.pem"
    with big.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: 50 MB without writing them
    code, _, err = cli("certs", "verify", str(big))
    assert code == 2 and "too large" in err


def test_wrong_pkcs12_password_cli(cli, chains, tmp_path: Path) -> None:
    c = chains["ec"]
    leaf = certs.load_file(c["leaf"])[0]
    key = serialization.load_pem_private_key(c["leaf_key"].read_bytes(), None)
    p12 = pkcs12.serialize_key_and_certificates(b"x", key, leaf, None,  # type: ignore[arg-type]
                                                serialization.BestAvailableEncryption(b"right"))
    (tmp_path / "l.p12").write_bytes(p12)
    code, _, err = cli("certs", "verify", str(tmp_path / "l.p12"), "--password", "wrong")
    assert code == 2 and "PKCS#12" in err


def test_missing_file_exit_2(cli, tmp_path: Path) -> None:
    code, _, err = cli("certs", "verify", str(tmp_path / "nope.pem"))
    assert code == 2 and "cannot read" in err


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(blob: bytes) -> None:
    try:
        out = certs.load_certificates(blob)
    except CryptoError as exc:
        assert str(exc)
    else:
        assert out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_certificates(chains, data: st.DataObject) -> None:
    der = bytearray(_der(chains["sm2"]["leaf"]))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(der) - 1))
        der[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(der)))
    try:
        for cert in certs.load_certificates(bytes(der[:cut])):
            certs.describe(cert)  # every field must be readable or the parse must fail cleanly
    except CryptoError as exc:
        assert str(exc)
