"""X.509 parsing (SM2, RSA, ECDSA, Ed25519), GM dual-certificate pairing and chain verification.

cryptography parses SM2 certificates but refuses their public keys, so SM2 keys are read
from the SubjectPublicKeyInfo here. Chains are verified by OpenSSL through pyOpenSSL's
X509Store: it verifies SM2 signatures with the standard ID 1234567812345678 and rejects
empty-ID and wrong-ID signatures.

Trust: certificates given as anchors that are self-signed are trust anchors; anchors that
are not self-signed are treated as untrusted intermediates unless `partial_chain` is set,
in which case OpenSSL may stop the chain at them (X509_V_FLAG_PARTIAL_CHAIN).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID
from OpenSSL import crypto

from providers.errors import CryptoError
from security import der, sm

MAX_INPUT_BYTES = 10 * 1024 * 1024  # a certificate bundle bigger than this is not a bundle
# What cryptography raises for bytes that are not a certificate (InvalidVersion is no ValueError).
_NOT_A_CERTIFICATE = (ValueError, x509.InvalidVersion, UnsupportedAlgorithm)

SIGNATURE_NAMES: dict[str, str] = {
    der.OID_SM2_WITH_SM3: "sm2-with-sm3",
    SignatureAlgorithmOID.RSA_WITH_SHA1.dotted_string: "sha1WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_MD5.dotted_string: "md5WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA256.dotted_string: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384.dotted_string: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512.dotted_string: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.RSASSA_PSS.dotted_string: "rsassa-pss",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1.dotted_string: "ecdsa-with-SHA1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256.dotted_string: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384.dotted_string: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512.dotted_string: "ecdsa-with-SHA512",
    SignatureAlgorithmOID.ED25519.dotted_string: "ed25519",
    SignatureAlgorithmOID.ED448.dotted_string: "ed448",
}

# GM/T 0015 private extensions (under the SM arc 1.2.156.10260.4.1).
GM_EXTENSIONS: dict[str, str] = {
    "1.2.156.10260.4.1.1": "identify_code",
    "1.2.156.10260.4.1.2": "insurance_number",
    "1.2.156.10260.4.1.3": "ic_registration_number",
    "1.2.156.10260.4.1.4": "organization_code",
    "1.2.156.10260.4.1.5": "taxation_number",
}

_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


# --------------------------------------------------------------------------- loading


def load_certificates(data: bytes, password: bytes | None = None, source: str = "input") -> list[x509.Certificate]:
    """Every certificate in PEM (certificates and PKCS#7), DER, PKCS#7 or PKCS#12 `data`."""
    if len(data) > MAX_INPUT_BYTES:
        raise CryptoError(f"{source}: {len(data) // (1024 * 1024)} MB is too large for a certificate bundle")
    if not data.strip():
        raise CryptoError(f"{source}: empty input")
    found = _load_pem(data, source) if b"-----BEGIN" in data else _load_der(data, password, source)
    many = len(found) > 1
    return [
        checked(c, f"{source} (certificate {i} of {len(found)})" if many else source) for i, c in enumerate(found, 1)
    ]


def load_file(path: Path, password: bytes | None = None) -> list[x509.Certificate]:
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise CryptoError(f"{path}: {size // (1024 * 1024)} MB is too large for a certificate bundle")
        data = path.read_bytes()
    except OSError as exc:
        raise CryptoError(f"{path}: cannot read: {exc.strerror}") from None
    return load_certificates(data, password, source=str(path))


def load_der_certificate(blob: bytes, source: str) -> x509.Certificate:
    """One DER certificate (as a TLS or TLCP server sends it), checked like every other input."""
    try:
        cert = x509.load_der_x509_certificate(blob)
    except _NOT_A_CERTIFICATE as exc:
        raise CryptoError(f"{source}: not a DER certificate: {_first_line(exc)}") from None
    return checked(cert, source)


_FIELDS: tuple[tuple[str, Any], ...] = (
    ("subject", lambda c: c.subject.rfc4514_string()),
    ("issuer", lambda c: c.issuer.rfc4514_string()),
    ("serial number", lambda c: c.serial_number),
    ("validity", lambda c: (c.not_valid_before_utc, c.not_valid_after_utc)),
    ("signature algorithm", lambda c: c.signature_algorithm_oid.dotted_string),
    ("encoding", lambda c: (c.tbs_certificate_bytes, c.public_bytes(serialization.Encoding.DER))),
    ("extensions", lambda c: _unique_extensions(c)),
)


def _unique_extensions(cert: x509.Certificate) -> None:
    """RFC 5280 allows each extension once; cryptography refuses the whole set otherwise.
    An extension it merely cannot decode stays tolerated: describe() shows what it can."""
    with contextlib.suppress(ValueError):
        len(cert.extensions)  # parsing is lazy: this reads them all


def checked(cert: x509.Certificate, source: str) -> x509.Certificate:
    """`cert` if every field the inventory shows can be read. cryptography parses names and
    dates only when asked, so a certificate with a malformed subject loads fine and breaks
    whatever reads it later: read them now and say which field is broken."""
    for name, read in _FIELDS:
        try:
            read(cert)
        except (ValueError, TypeError, OverflowError, UnsupportedAlgorithm, x509.DuplicateExtension) as exc:
            raise CryptoError(f"{source}: malformed certificate: {name}: {_first_line(exc)}") from None
    return cert


def _load_pem(data: bytes, source: str) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    try:
        if b"-----BEGIN PKCS7-----" in data:
            certs.extend(pkcs7.load_pem_pkcs7_certificates(data))
        if b"-----BEGIN CERTIFICATE-----" in data or b"-----BEGIN X509 CERTIFICATE-----" in data:
            certs.extend(x509.load_pem_x509_certificates(data))
    except _NOT_A_CERTIFICATE as exc:
        raise CryptoError(f"{source}: malformed PEM certificate: {_first_line(exc)}") from None
    if not certs:
        raise CryptoError(f"{source}: no CERTIFICATE or PKCS7 block in the PEM data")
    return certs


def _load_der(data: bytes, password: bytes | None, source: str) -> list[x509.Certificate]:
    try:
        _, body, end = der.read(data)
    except CryptoError:
        raise CryptoError(f"{source}: not PEM, and truncated or not DER") from None
    if end != len(data):
        raise CryptoError(f"{source}: trailing bytes after the DER structure (truncated or concatenated?)")
    try:
        parts = der.children(body)
    except CryptoError:
        raise CryptoError(f"{source}: corrupted DER structure") from None
    if parts and parts[0] == (der.INTEGER, b"\x03"):  # PFX version 3: PKCS#12
        return _load_pkcs12(data, password, source)
    if parts and parts[0][0] == der.OID:  # ContentInfo: PKCS#7
        try:
            return list(pkcs7.load_der_pkcs7_certificates(data))
        except _NOT_A_CERTIFICATE as exc:
            raise CryptoError(f"{source}: malformed PKCS#7: {_first_line(exc)}") from None
    try:
        return [x509.load_der_x509_certificate(data)]
    except _NOT_A_CERTIFICATE as exc:
        raise CryptoError(f"{source}: not a certificate, PKCS#7 or PKCS#12 bundle: {_first_line(exc)}") from None


def _load_pkcs12(data: bytes, password: bytes | None, source: str) -> list[x509.Certificate]:
    try:
        bundle = pkcs12.load_pkcs12(data, password)
    except (ValueError, x509.InvalidVersion):
        hint = "no password given" if password is None else "wrong password"
        raise CryptoError(f"{source}: cannot open PKCS#12 ({hint}, or corrupted data)") from None
    except UnsupportedAlgorithm as exc:
        raise CryptoError(f"{source}: PKCS#12 uses an unsupported algorithm: {exc}") from None
    certs = [bundle.cert.certificate] if bundle.cert else []
    certs.extend(c.certificate for c in bundle.additional_certs)
    if not certs:
        raise CryptoError(f"{source}: the PKCS#12 bundle holds no certificate")
    return certs


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


# --------------------------------------------------------------------------- fields


def _spki(cert: x509.Certificate) -> bytes:
    """The SubjectPublicKeyInfo DER, read from the TBS (works for SM2 keys too)."""
    _, tbs, _ = der.read(cert.tbs_certificate_bytes)
    fields = der.children(tbs)
    offset = 1 if fields and fields[0][0] == 0xA0 else 0  # explicit [0] version
    if len(fields) <= offset + 5:
        raise CryptoError("TBSCertificate: no subjectPublicKeyInfo")
    tag, body = fields[offset + 5]
    return der.tlv(tag, body)


def public_key_info(cert: x509.Certificate) -> tuple[str, int, str]:
    """(key type, key size in bits, curve or '') for any certificate, SM2 included."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, ""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA", key.curve.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, ""
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, ""
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, ""
    try:
        sm.Sm2PublicKey.from_spki(_spki(cert))
    except CryptoError:
        return "unknown", 0, ""
    return "SM2", 256, "sm2p256v1"


def sm2_public_key(cert: x509.Certificate) -> sm.Sm2PublicKey:
    return sm.Sm2PublicKey.from_spki(_spki(cert))


def signature_algorithm(cert: x509.Certificate) -> str:
    dotted = cert.signature_algorithm_oid.dotted_string
    return SIGNATURE_NAMES.get(dotted, cert.signature_algorithm_oid._name or dotted)


def _name(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return repr(name)


def _ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> Any:
    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def key_usages(cert: x509.Certificate) -> list[str]:
    usage = _ext(cert, ExtensionOID.KEY_USAGE)
    if usage is None:
        return []
    out = []
    for name in _KEY_USAGES:
        if getattr(usage, name):
            out.append(name)
    if usage.key_agreement:
        out += [n for n in ("encipher_only", "decipher_only") if getattr(usage, n)]
    return out


def is_ca(cert: x509.Certificate) -> bool:
    constraints = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    return bool(constraints and constraints.ca)


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def describe(cert: x509.Certificate, now: datetime | None = None) -> dict[str, Any]:
    """The fields the inventory and the CLI show, JSON-ready; CryptoError for a malformed one."""
    checked(cert, "certificate")
    now = now or datetime.now(UTC)
    body = cert.public_bytes(serialization.Encoding.DER)
    key_type, key_size, curve = public_key_info(cert)
    sans = _ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    eku = _ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    gm = {}
    try:
        extensions: Iterable[x509.Extension[Any]] = cert.extensions
    except ValueError:
        extensions = []
    for ext in extensions:
        dotted = ext.oid.dotted_string
        if dotted.startswith("1.2.156."):
            raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
            gm[GM_EXTENSIONS.get(dotted, dotted)] = _printable(raw)
    not_after = cert.not_valid_after_utc
    return {
        "subject": _name(cert.subject),
        "issuer": _name(cert.issuer),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": (not_after - now).days,
        "expired": not_after < now,
        "sans": [str(v.value) if hasattr(v, "value") else str(v) for v in sans] if sans else [],
        "key_usage": key_usages(cert),
        "extended_key_usage": [o._name or o.dotted_string for o in eku] if eku else [],
        "signature_algorithm": signature_algorithm(cert),
        "key_type": key_type,
        "key_size": key_size,
        "curve": curve,
        "is_ca": is_ca(cert),
        "self_signed": is_self_signed(cert),
        "sha256": hashlib.sha256(body).hexdigest(),
        "sm3": sm.sm3(body).hex(),
        "gm_extensions": gm,
        "role": gm_role(cert),
    }


def _printable(raw: bytes) -> str:
    try:
        _, content, _ = der.read(raw)
        return content.decode("utf-8")
    except (CryptoError, UnicodeDecodeError):
        return raw.hex()


def gm_role(cert: x509.Certificate) -> str:
    """'sign', 'enc' or '' after the GM/T 0015 key usages of a dual-certificate pair."""
    usages = set(key_usages(cert))
    if not usages or "key_cert_sign" in usages:
        return ""
    enc = usages & {"key_encipherment", "data_encipherment", "key_agreement"}
    sign = usages & {"digital_signature", "content_commitment"}
    if enc and not sign:
        return "enc"
    if sign and not enc:
        return "sign"
    return ""


def pair_dual(certs: Sequence[x509.Certificate]) -> list[tuple[x509.Certificate, x509.Certificate]]:
    """(signing, encryption) pairs with the same subject and issuer."""
    signing = [c for c in certs if gm_role(c) == "sign"]
    encrypting = [c for c in certs if gm_role(c) == "enc"]
    pairs = []
    for s in signing:
        for e in encrypting:
            if s.subject == e.subject and s.issuer == e.issuer:
                pairs.append((s, e))
                encrypting.remove(e)
                break
    return pairs


# --------------------------------------------------------------------------- verification


@dataclass
class VerifyResult:
    valid: bool
    errors: list[str] = field(default_factory=list)
    chain: list[dict[str, Any]] = field(default_factory=list)
    leaf: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": self.errors,
            "chain": self.chain,
            "subject": self.leaf.get("subject"),
            "signature_algorithm": self.leaf.get("signature_algorithm"),
            "key_type": self.leaf.get("key_type"),
            "key_size": self.leaf.get("key_size"),
            "not_after": self.leaf.get("not_after"),
            "sha256": self.leaf.get("sha256"),
            "sm3": self.leaf.get("sm3"),
        }


def load_crls(data: bytes, source: str) -> list[x509.CertificateRevocationList]:
    try:
        if b"-----BEGIN X509 CRL-----" in data:
            return [
                x509.load_pem_x509_crl(b"-----BEGIN X509 CRL-----" + block)
                for block in data.split(b"-----BEGIN X509 CRL-----")[1:]
            ]
        return [x509.load_der_x509_crl(data)]
    except ValueError as exc:
        raise CryptoError(f"{source}: not a CRL: {_first_line(exc)}") from None


def _chain_entry(cert: x509.Certificate) -> dict[str, Any]:
    key_type, key_size, _ = public_key_info(cert)
    return {
        "subject": _name(cert.subject),
        "issuer": _name(cert.issuer),
        "signature_algorithm": signature_algorithm(cert),
        "key_type": key_type,
        "key_size": key_size,
        "not_after": cert.not_valid_after_utc.isoformat(),
        "self_signed": is_self_signed(cert),
    }


class ChainVerifier:
    """An OpenSSL trust store built once, reused for many leaves (the benchmark does 10,000)."""

    def __init__(
        self,
        anchors: Sequence[x509.Certificate] = (),
        crls: Sequence[x509.CertificateRevocationList] = (),
        partial_chain: bool = False,
        use_system_store: bool = False,
        at: datetime | None = None,
    ) -> None:
        self.intermediates: list[x509.Certificate] = []
        self.anchors = list(anchors)
        self._store = crypto.X509Store()
        flags = 0
        for cert in anchors:
            if is_self_signed(cert) or partial_chain:
                self._store.add_cert(_openssl_x509(cert))
            else:
                self.intermediates.append(cert)
        if partial_chain:
            flags |= crypto.X509StoreFlags.PARTIAL_CHAIN
        if use_system_store:
            import ssl

            paths = ssl.get_default_verify_paths()
            if paths.cafile or paths.capath:
                self._store.load_locations(paths.cafile, paths.capath)
        for crl in crls:
            self._store.add_crl(crl)
        if crls:
            flags |= crypto.X509StoreFlags.CRL_CHECK | crypto.X509StoreFlags.CRL_CHECK_ALL
        if flags:
            self._store.set_flags(flags)
        if at is not None:
            self._store.set_time(at)
        self.at = at

    def check(self, leaf: x509.Certificate, untrusted: Sequence[x509.Certificate] = ()) -> tuple[bool, str]:
        """Valid or not with OpenSSL's first reason: the fast path for bulk verification."""
        chain_in = [_openssl_x509(c) for c in [*untrusted, *self.intermediates]]
        context = crypto.X509StoreContext(self._store, _openssl_x509(leaf), chain=chain_in or None)
        try:
            context.verify_certificate()
        except crypto.X509StoreContextError as exc:
            _clear_openssl_errors()
            return False, str(exc.errors[2]) if len(exc.errors) > 2 else str(exc)
        return True, ""

    def verify(self, leaf: x509.Certificate, untrusted: Sequence[x509.Certificate] = ()) -> VerifyResult:
        chain_in = [_openssl_x509(c) for c in [*untrusted, *self.intermediates]]
        context = crypto.X509StoreContext(self._store, _openssl_x509(leaf), chain=chain_in or None)
        leaf_info = describe(leaf, self.at)
        try:
            verified = context.get_verified_chain()
        except crypto.X509StoreContextError as exc:
            _clear_openssl_errors()
            failing = _cryptography_x509(exc.certificate) if exc.certificate is not None else leaf
            errors = _explain(exc, failing, leaf, self.at)
            if exc.errors and exc.errors[0] == 7:
                errors += _sm2_id_diagnosis(failing, [*untrusted, *self.intermediates, *self.anchors])
            return VerifyResult(False, errors, [_chain_entry(leaf)], leaf_info)
        chain = [_chain_entry(_cryptography_x509(c)) for c in verified]
        return VerifyResult(True, [], chain, leaf_info)


def _openssl_x509(cert: x509.Certificate) -> crypto.X509:
    """The certificate as OpenSSL reads it: OpenSSL refuses some DER that cryptography loads."""
    try:
        return crypto.X509.from_cryptography(cert)
    except crypto.Error as exc:
        _clear_openssl_errors()
        reason = exc.args[0][0][2] if exc.args and exc.args[0] and len(exc.args[0][0]) > 2 else "unreadable"
        raise CryptoError(f"malformed certificate ({_name(cert.subject)}): OpenSSL: {reason}") from None


def _cryptography_x509(cert: crypto.X509) -> x509.Certificate:
    """Back from OpenSSL, whose re-encoding of a certificate it accepted may still fail."""
    try:
        return checked(cert.to_cryptography(), "certificate")
    except (crypto.Error, ValueError) as exc:
        _clear_openssl_errors()
        raise CryptoError(f"malformed certificate in the chain: {_first_line(exc)}") from None


def verify_paths(verifier: ChainVerifier, paths: Sequence[Path], workers: int = 0) -> list[tuple[Path, bool, str]]:
    """Verify many leaf files against one store: (path, valid, first error). OpenSSL releases the
    GIL while it verifies, so `workers` threads (default: one per CPU) run in parallel."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    def one(path: Path) -> tuple[Path, bool, str]:
        try:
            chain = leaf_first(load_file(path))
            ok, error = verifier.check(chain[0], chain[1:])
        except CryptoError as exc:
            return path, False, str(exc)
        return path, ok, error

    workers = workers or os.cpu_count() or 1
    if workers == 1:
        return [one(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, paths, chunksize=64))


def _clear_openssl_errors() -> None:
    """A failed verification leaves errors queued in the OpenSSL that cryptography shares; a later,
    unrelated cryptography call (SM4-GCM finalize) would report them as its own."""
    from OpenSSL._util import lib as ossl

    ossl.ERR_clear_error()


def _explain(
    exc: crypto.X509StoreContextError, cert: x509.Certificate, leaf: x509.Certificate, at: datetime | None
) -> list[str]:
    """OpenSSL's reason, which certificate it concerns, and a hint a security officer can act on."""
    code = exc.errors[0] if exc.errors else -1
    depth = exc.errors[1] if len(exc.errors) > 1 else 0
    reason = str(exc.errors[2]) if len(exc.errors) > 2 else str(exc)
    message = f"{reason} (depth {depth}: {_name(cert.subject)})"
    hint = _HINTS.get(code)
    if code == 7 and cert.signature_algorithm_oid.dotted_string == der.OID_SM2_WITH_SM3:
        hint = "the SM2 signature does not verify: tampered, wrong issuer key, or signed with a non-standard ID"
    errors = [f"{message}: {hint}" if hint else message]
    now = at or datetime.now(UTC)
    if code != 10 and leaf.not_valid_after_utc < now:
        errors.append(f"certificate has expired ({leaf.not_valid_after_utc.isoformat()})")
    return errors


_OTHER_IDS = ((b"", "an EMPTY ID (openssl without -sigopt distid:1234567812345678)"),)


def _sm2_id_diagnosis(cert: x509.Certificate, candidates: Sequence[x509.Certificate]) -> list[str]:
    """Tell an empty-ID SM2 signature from a tampered one by checking it ourselves."""
    if cert.signature_algorithm_oid.dotted_string != der.OID_SM2_WITH_SM3:
        return []
    for issuer in candidates:
        if issuer.subject != cert.issuer or public_key_info(issuer)[0] != "SM2":
            continue
        key = sm2_public_key(issuer)
        for uid, label in _OTHER_IDS:
            if key.verify(cert.signature, cert.tbs_certificate_bytes, uid=uid):
                return [f"the SM2 signature was made with {label}, not the standard ID 1234567812345678"]
        return ["the SM2 signature matches neither the standard ID nor an empty ID: tampered or another ID"]
    return []


_HINTS: dict[int, str] = {
    2: "the issuer certificate is missing; pass it with --untrusted or in the same file",
    7: "the signature does not verify: tampered certificate or wrong issuer key",
    9: "not yet valid",
    10: "renew it",
    18: "self-signed and not among the trust anchors",
    19: "the root is not among the trust anchors (--ca)",
    20: "no trust anchor issued this chain; pass the root with --ca",
    21: "cannot verify the first certificate: its issuer is neither given nor trusted",
    23: "revoked by the given CRL",
    3: "no CRL for this issuer was given",
    24: "an issuer in the chain is not a CA (basicConstraints)",
}


def leaf_first(certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """PKCS#7 sets lose their order: put first the certificate that issued none of the others."""
    issuers = {c.issuer for c in certs if not is_self_signed(c)}
    leaves = [c for c in certs if c.subject not in issuers or c is certs[0]]
    first = (
        certs[0] if certs[0] in leaves and not is_ca(certs[0]) else next((c for c in leaves if not is_ca(c)), certs[0])
    )
    return [first, *[c for c in certs if c is not first]]


def verify_files(
    cert_path: Path,
    ca_paths: Sequence[Path] = (),
    crl_paths: Sequence[Path] = (),
    untrusted_paths: Sequence[Path] = (),
    partial_chain: bool = False,
    password: bytes | None = None,
) -> VerifyResult:
    """`ganyun certs verify`: the first certificate of `cert_path` is the leaf, the rest intermediates."""
    certs = leaf_first(load_file(cert_path, password))
    leaf, bundled = certs[0], certs[1:]
    anchors = [c for p in ca_paths for c in load_file(p)]
    untrusted = bundled + [c for p in untrusted_paths for c in load_file(p)]
    crls = []
    for path in crl_paths:
        try:
            crls.extend(load_crls(path.read_bytes(), str(path)))
        except OSError as exc:
            raise CryptoError(f"{path}: cannot read: {exc.strerror}") from None
    verifier = ChainVerifier(anchors, crls, partial_chain=partial_chain, use_system_store=not anchors)
    return verifier.verify(leaf, untrusted)
