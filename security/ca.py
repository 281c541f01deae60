"""An SM2 CA for the city's internal services: a root made on first use, GM dual certificates.

cryptography's CertificateBuilder cannot take or sign with SM2 keys, so the TBSCertificate is
assembled here in DER (names and extension values still encoded by cryptography) and signed
with security.sm using the standard ID 1234567812345678, as `openssl verify -vfyopt
distid:1234567812345678` expects.

Layout of a CA directory:
    ca.pem ca.key                    the root (key 0600)
    issued/<cn>/sign.pem sign.key    signing certificate: digitalSignature, nonRepudiation
    issued/<cn>/enc.pem enc.key      encryption certificate: keyEncipherment, dataEncipherment, keyAgreement
    issued/<cn>/chain.pem            the root, for clients
In production the encryption key pair comes from the KMC (GM/T 0034); this CA makes both
locally because the city's internal services have none.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from providers.errors import CryptoError
from security import certs, der, sm

ROOT_DAYS = 3650
LEAF_DAYS = 365


@dataclass(frozen=True)
class IssuedPair:
    directory: Path
    sign_cert: Path
    sign_key: Path
    enc_cert: Path
    enc_key: Path
    chain: Path
    subject: str


def _ski(key: sm.Sm2PublicKey) -> bytes:
    # RFC 5280 method 1 (SHA-1 of the key bits): an identifier, not a security function.
    return hashlib.sha1(key.point, usedforsecurity=False).digest()


def _extension(value: x509.ExtensionType, critical: bool = False) -> bytes:
    parts = [der.oid(value.oid.dotted_string)]
    if critical:
        parts.append(der.tlv(der.BOOLEAN, b"\xff"))
    parts.append(der.octet_string(value.public_bytes()))
    return der.seq(*parts)


def build_certificate(
    subject: x509.Name,
    public_key: sm.Sm2PublicKey,
    issuer: x509.Name,
    issuer_key: sm.Sm2PrivateKey,
    extensions: list[tuple[x509.ExtensionType, bool]],
    days: int,
    not_before: datetime | None = None,
) -> x509.Certificate:
    """An SM2-with-SM3 certificate signed by `issuer_key`."""
    start = (not_before or datetime.now(UTC)) - timedelta(minutes=5)  # tolerate clock skew
    algorithm = der.seq(der.oid(der.OID_SM2_WITH_SM3))
    tbs = der.seq(
        der.explicit(0, der.integer(2)),
        der.integer(secrets.randbits(63) | 1 << 62),
        algorithm,
        issuer.public_bytes(),
        der.seq(der.time(start), der.time(start + timedelta(days=days))),
        subject.public_bytes(),
        public_key.spki_der(),
        der.explicit(3, der.seq(*(_extension(v, c) for v, c in extensions))),
    )
    signature = issuer_key.sign(tbs)
    return x509.load_der_x509_certificate(der.seq(tbs, algorithm, der.bit_string(signature)))


def _write_key(path: Path, key: sm.Sm2PrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with 0600 from the start: never a moment where the key is world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes_pem())
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(Encoding.PEM))


class SmCa:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert_path = directory / "ca.pem"
        self.key_path = directory / "ca.key"

    def exists(self) -> bool:
        return self.cert_path.exists() and self.key_path.exists()

    def ensure_root(self, name: str = "赣州市政务云 SM2 根CA") -> bool:
        """Create the root on first use; True when it was created now."""
        if self.exists():
            return False
        key = sm.Sm2PrivateKey.generate()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "赣州市人民政府"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        ski = _ski(key.public_key())
        cert = build_certificate(
            subject,
            key.public_key(),
            subject,
            key,
            [
                (x509.BasicConstraints(ca=True, path_length=None), True),
                (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
                (x509.SubjectKeyIdentifier(ski), False),
            ],
            ROOT_DAYS,
        )
        _write_key(self.key_path, key)
        _write_cert(self.cert_path, cert)
        return True

    def _load(self) -> tuple[x509.Certificate, sm.Sm2PrivateKey]:
        if not self.exists():
            raise CryptoError(f"no CA in {self.directory}")
        cert = certs.load_file(self.cert_path)[0]
        try:
            key = sm.Sm2PrivateKey.load(self.key_path.read_bytes())
        except OSError as exc:
            raise CryptoError(f"{self.key_path}: cannot read: {exc.strerror}") from None
        if key.public_key() != certs.sm2_public_key(cert):
            raise CryptoError(f"{self.key_path} does not belong to {self.cert_path}")
        return cert, key

    def issue(
        self, cn: str, sans: list[str] | None = None, subject: x509.Name | None = None, days: int = LEAF_DAYS
    ) -> IssuedPair:
        """A signing + encryption pair for a server (GM/T 0015 key usages)."""
        if not cn.strip() or "/" in cn or cn.startswith("."):
            raise CryptoError(f"invalid common name {cn!r}")
        self.ensure_root()
        ca_cert, ca_key = self._load()
        subject = subject or x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "赣州市人民政府"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )
        names = _general_names(sans or [cn])
        aki = x509.AuthorityKeyIdentifier(_ski(certs.sm2_public_key(ca_cert)), None, None)
        out = self.directory / "issued" / cn
        usages = {
            # digitalSignature, nonRepudiation
            "sign": x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            # keyEncipherment, dataEncipherment, keyAgreement
            "enc": x509.KeyUsage(False, False, True, True, True, False, False, False, False),
        }
        for role, usage in usages.items():
            key = sm.Sm2PrivateKey.generate()
            cert = build_certificate(
                subject,
                key.public_key(),
                ca_cert.subject,
                ca_key,
                [
                    (x509.BasicConstraints(ca=False, path_length=None), True),
                    (usage, True),
                    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False),
                    (x509.SubjectAlternativeName(names), False),
                    (x509.SubjectKeyIdentifier(_ski(key.public_key())), False),
                    (aki, False),
                ],
                days,
            )
            _write_key(out / f"{role}.key", key)
            _write_cert(out / f"{role}.pem", cert)
        _write_cert(out / "chain.pem", ca_cert)
        return IssuedPair(
            out,
            out / "sign.pem",
            out / "sign.key",
            out / "enc.pem",
            out / "enc.key",
            out / "chain.pem",
            subject.rfc4514_string(),
        )

    def renew(self, cert_path: Path, days: int = LEAF_DAYS) -> IssuedPair:
        """New keys and validity, same subject and SANs."""
        old = certs.load_file(cert_path)[0]
        cns = old.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not cns:
            raise CryptoError(f"{cert_path}: no common name to renew")
        try:
            san = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            sans: list[str] | None = [str(n.value) for n in san]
        except x509.ExtensionNotFound:
            sans = None
        return self.issue(str(cns[0].value), sans, subject=old.subject, days=days)


def _general_names(sans: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in sans:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out
