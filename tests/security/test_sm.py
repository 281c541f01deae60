"""SM2/SM3/SM4 standard vectors and interoperability with the OpenSSL command line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from providers.errors import CryptoError
from security import sm

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")

ANNEX_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
ANNEX_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
ANNEX_R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
ANNEX_S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
DISTID = "distid:1234567812345678"


def test_sm3_vectors() -> None:
    assert sm.sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm.sm3(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm3_hmac_differs_by_key() -> None:
    assert sm.sm3_hmac(b"k1", b"data") != sm.sm3_hmac(b"k2", b"data")
    assert len(sm.sm3_hmac(b"k1", b"data")) == 32


def test_sm4_vectors() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert sm.sm4_ecb_block(key, key).hex() == "681edf34d206965e86b3e94f536e4246"
    assert sm.sm4_ecb_block(key, key, 1_000_000).hex() == "595298c7c6fd271f0402f804c33d3f66"


def test_sm4_modes_round_trip_and_tamper() -> None:
    key, iv, data = b"k" * 16, b"i" * 16, b"government cloud " * 5
    assert sm.sm4_cbc_decrypt(key, iv, sm.sm4_cbc_encrypt(key, iv, data)) == data
    assert sm.sm4_ctr(key, iv, sm.sm4_ctr(key, iv, data)) == data
    sealed = sm.sm4_gcm_encrypt(key, iv[:12], data, b"aad")
    assert sm.sm4_gcm_decrypt(key, iv[:12], sealed, b"aad") == data
    with pytest.raises(CryptoError):
        sm.sm4_gcm_decrypt(key, iv[:12], sealed[:-1] + bytes([sealed[-1] ^ 1]), b"aad")
    with pytest.raises(CryptoError):
        sm.sm4_cbc_encrypt(b"short", iv, data)


def test_sm4_cbc_matches_openssl(tmp_path: Path) -> None:
    key, iv, data = bytes(range(16)), bytes(range(16, 32)), b"xinchuang" * 10
    (tmp_path / "p").write_bytes(data)
    out = subprocess.run(
        ["openssl", "enc", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), "-in", str(tmp_path / "p")],
        check=True, capture_output=True,
    ).stdout
    assert out == sm.sm4_cbc_encrypt(key, iv, data)


def test_sm2_annex_a_vector() -> None:
    key = sm.Sm2PrivateKey(ANNEX_D)
    raw = key.sign_raw(b"message digest", uid=sm.DEFAULT_ID, k=ANNEX_K)
    assert raw.hex().upper() == ANNEX_R + ANNEX_S
    assert key.public_key().verify_raw(raw, b"message digest")
    assert key.public_key().verify(key.sign(b"message digest", k=ANNEX_K), b"message digest")


def test_sm2_annex_a_vector_on_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sm, "_gmalglib", lambda: None)
    monkeypatch.setattr(sm, "_tongsuo_ok", lambda: False)
    key = sm.Sm2PrivateKey(ANNEX_D)
    raw = key.sign_raw(b"message digest", k=ANNEX_K)
    assert raw.hex().upper() == ANNEX_R + ANNEX_S
    assert key.public_key().verify_raw(raw, b"message digest")
    assert not key.public_key().verify_raw(raw, b"message digesT")
    assert sm.backend_names()["sm2_sign"].startswith("gmssl")


def test_sm2_rejects_wrong_id_message_and_key() -> None:
    key, other = sm.Sm2PrivateKey.generate(), sm.Sm2PrivateKey.generate()
    sig = key.sign(b"payload", uid=b"alice@gz.gov.cn")
    pub = key.public_key()
    assert pub.verify(sig, b"payload", uid=b"alice@gz.gov.cn")
    assert not pub.verify(sig, b"payload")
    assert not pub.verify(sig, b"payloaD", uid=b"alice@gz.gov.cn")
    assert not other.public_key().verify(sig, b"payload", uid=b"alice@gz.gov.cn")
    assert not pub.verify(b"\x30\x00", b"payload")


def test_sm2_nonces_differ() -> None:
    key = sm.Sm2PrivateKey.generate()
    assert key.sign_raw(b"m") != key.sign_raw(b"m")


def test_sm2_encrypt_round_trip_and_tamper() -> None:
    key = sm.Sm2PrivateKey.generate()
    ct = key.public_key().encrypt(b"secret for the vault")
    assert ct[0] == 4 and len(ct) == 65 + 32 + 20
    assert key.decrypt(ct) == b"secret for the vault"
    with pytest.raises(CryptoError):
        key.decrypt(ct[:-1] + bytes([ct[-1] ^ 1]))


def test_bad_public_point_rejected() -> None:
    with pytest.raises(CryptoError):
        sm.Sm2PublicKey(b"\x04" + b"\x01" * 64)


def _openssl_key(tmp_path: Path) -> Path:
    path = tmp_path / "ossl.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(path)], check=True, capture_output=True)
    return path


def test_openssl_signs_we_verify(tmp_path: Path) -> None:
    key_path = _openssl_key(tmp_path)
    msg = tmp_path / "msg"
    msg.write_bytes(b"ganzhou one cloud")
    sig = subprocess.run(
        ["openssl", "dgst", "-sm3", "-sign", str(key_path), "-sigopt", DISTID, str(msg)],
        check=True, capture_output=True,
    ).stdout
    key = sm.Sm2PrivateKey.load(key_path.read_bytes())
    assert key.public_key().verify(sig, b"ganzhou one cloud")
    assert not key.public_key().verify(sig, b"ganzhou one cloud", uid=b"")


def test_we_sign_openssl_verifies(tmp_path: Path) -> None:
    key = sm.Sm2PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(key.private_bytes_pem())
    (tmp_path / "pub.pem").write_bytes(key.public_key().public_bytes_pem())
    (tmp_path / "msg").write_bytes(b"two sites three centers")
    (tmp_path / "sig").write_bytes(key.sign(b"two sites three centers"))

    def verify(pub: str, opt: str) -> bool:
        proc = subprocess.run(
            ["openssl", "dgst", "-sm3", "-verify", str(tmp_path / pub), "-sigopt", opt,
             "-signature", str(tmp_path / "sig"), str(tmp_path / "msg")],
            capture_output=True,
        )
        return proc.returncode == 0

    assert verify("pub.pem", DISTID)
    assert not verify("pub.pem", "distid:1111111111111111")
    # OpenSSL reads our private key too and derives the same public key.
    derived = subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "k.pem"), "-pubout"],
                             check=True, capture_output=True).stdout
    assert sm.Sm2PublicKey.load(derived) == key.public_key()


def test_key_load_errors() -> None:
    with pytest.raises(CryptoError):
        sm.Sm2PrivateKey.load(b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n")
    with pytest.raises(CryptoError):
        sm.Sm2PrivateKey.load(b"\x30\x05\x02\x01")


def test_fallback_encryption_interoperates(monkeypatch: pytest.MonkeyPatch) -> None:
    key = sm.Sm2PrivateKey.generate()
    compiled = key.public_key().encrypt(b"cross-backend")
    monkeypatch.setattr(sm, "_gmalglib", lambda: None)
    assert key.decrypt(compiled) == b"cross-backend"
    pure = key.public_key().encrypt(b"back again")
    monkeypatch.undo()
    assert key.decrypt(pure) == b"back again"
