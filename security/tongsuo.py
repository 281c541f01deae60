"""ctypes access to Tongsuo (the libcrypto + libssl shipped inside the tongsuopy wheel).

tongsuopy's Python API cannot set the SM2 distinguishing ID and has no TLCP server, but its
extension module exports the whole Tongsuo C API, so we bind the few functions we need.
"""

from __future__ import annotations

import ctypes
import importlib.util
from functools import cache
from pathlib import Path

from providers.errors import CryptoError

_vp = ctypes.c_void_p
_int = ctypes.c_int

# name -> (restype, argtypes); only what sm.py and the lab's TLCP server use.
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "OpenSSL_version": (ctypes.c_char_p, [_int]),
    "d2i_PUBKEY": (_vp, [_vp, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
    "EVP_PKEY_free": (None, [_vp]),
    "EVP_MD_CTX_new": (_vp, []),
    "EVP_MD_CTX_free": (None, [_vp]),
    "EVP_PKEY_CTX_new": (_vp, [_vp, _vp]),
    "EVP_PKEY_CTX_free": (None, [_vp]),
    "EVP_PKEY_CTX_ctrl": (_int, [_vp, _int, _int, _int, _int, _vp]),
    "EVP_MD_CTX_set_pkey_ctx": (None, [_vp, _vp]),
    "EVP_DigestVerifyInit": (_int, [_vp, _vp, _vp, _vp, _vp]),
    "EVP_DigestVerify": (_int, [_vp, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]),
    "EVP_sm3": (_vp, []),
    "ERR_clear_error": (None, []),
    "ERR_get_error": (ctypes.c_ulong, []),
    "ERR_error_string_n": (None, [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_size_t]),
    "SSL_CTX_new": (_vp, [_vp]),
    "SSL_CTX_free": (None, [_vp]),
    "NTLS_server_method": (_vp, []),
    "TLS_server_method": (_vp, []),
    "SSL_CTX_enable_ntls": (None, [_vp]),
    "SSL_CTX_enable_sm_tls13_strict": (None, [_vp]),
    "SSL_CTX_use_sign_certificate_file": (_int, [_vp, ctypes.c_char_p, _int]),
    "SSL_CTX_use_sign_PrivateKey_file": (_int, [_vp, ctypes.c_char_p, _int]),
    "SSL_CTX_use_enc_certificate_file": (_int, [_vp, ctypes.c_char_p, _int]),
    "SSL_CTX_use_enc_PrivateKey_file": (_int, [_vp, ctypes.c_char_p, _int]),
    "SSL_CTX_use_certificate_file": (_int, [_vp, ctypes.c_char_p, _int]),
    "SSL_CTX_use_PrivateKey_file": (_int, [_vp, ctypes.c_char_p, _int]),
    "SSL_CTX_set_cipher_list": (_int, [_vp, ctypes.c_char_p]),
    "SSL_CTX_set_ciphersuites": (_int, [_vp, ctypes.c_char_p]),
    "SSL_CTX_ctrl": (ctypes.c_long, [_vp, _int, ctypes.c_long, _vp]),
    "SSL_new": (_vp, [_vp]),
    "SSL_free": (None, [_vp]),
    "SSL_set_fd": (_int, [_vp, _int]),
    "SSL_accept": (_int, [_vp]),
    "SSL_read": (_int, [_vp, _vp, _int]),
    "SSL_write": (_int, [_vp, ctypes.c_char_p, _int]),
    "SSL_shutdown": (_int, [_vp]),
}

# OpenSSL 1.1.1 (Tongsuo's base): EVP_PKEY_ALG_CTRL + 11.
EVP_PKEY_CTRL_SET1_ID = 0x1000 + 11


def library_path() -> Path | None:
    spec = importlib.util.find_spec("tongsuopy")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("backends/_tongsuo*.so"))
    return found[0] if found else None


@cache
def lib() -> ctypes.CDLL:
    """The Tongsuo library with typed functions; CryptoError if tongsuopy is not installed."""
    path = library_path()
    if path is None:
        raise CryptoError("Tongsuo is not available: the tongsuopy package is not installed")
    try:
        handle = ctypes.CDLL(str(path))
        for name, (restype, argtypes) in _SIGNATURES.items():
            func = getattr(handle, name)
            func.restype = restype
            func.argtypes = argtypes
    except (OSError, AttributeError) as exc:
        raise CryptoError(f"Tongsuo library {path.name} is unusable: {exc}") from None
    return handle


def available() -> bool:
    try:
        lib()
    except CryptoError:
        return False
    return True


def version() -> str:
    raw: bytes = lib().OpenSSL_version(0)
    return raw.decode()


def last_error() -> str:
    handle = lib()
    code = handle.ERR_get_error()
    if not code:
        return "unknown Tongsuo error"
    buf = ctypes.create_string_buffer(256)
    handle.ERR_error_string_n(code, buf, len(buf))
    handle.ERR_clear_error()
    return buf.value.decode(errors="replace")


class Sm2Verifier:
    """A Tongsuo EVP_PKEY for one SM2 public key; verifies DER signatures with any ID."""

    def __init__(self, spki_der: bytes) -> None:
        self._lib = lib()
        buf = ctypes.c_char_p(spki_der)
        self._pkey = self._lib.d2i_PUBKEY(None, ctypes.byref(buf), len(spki_der))
        if not self._pkey:
            raise CryptoError(f"Tongsuo rejected the SM2 public key: {last_error()}")

    def verify(self, signature_der: bytes, message: bytes, uid: bytes) -> bool:
        handle = self._lib
        mctx = handle.EVP_MD_CTX_new()
        pctx = handle.EVP_PKEY_CTX_new(self._pkey, None)
        try:
            if handle.EVP_PKEY_CTX_ctrl(pctx, -1, -1, EVP_PKEY_CTRL_SET1_ID, len(uid), ctypes.c_char_p(uid)) != 1:
                raise CryptoError("Tongsuo refused the SM2 ID")
            handle.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            if handle.EVP_DigestVerifyInit(mctx, None, handle.EVP_sm3(), None, self._pkey) != 1:
                raise CryptoError(f"Tongsuo SM2 verify init failed: {last_error()}")
            return bool(handle.EVP_DigestVerify(mctx, signature_der, len(signature_der), message, len(message)) == 1)
        finally:
            # set_pkey_ctx leaves ownership of pctx with us.
            handle.EVP_MD_CTX_free(mctx)
            handle.EVP_PKEY_CTX_free(pctx)
            handle.ERR_clear_error()

    def __del__(self) -> None:
        pkey = getattr(self, "_pkey", None)
        if pkey:
            self._lib.EVP_PKEY_free(pkey)
