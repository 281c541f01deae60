"""Commercial cryptography and what is audited with it: SM2/SM3/SM4, certificates and TLS/TLCP
scans, the SM2 CA, the credential vault, the tamper-evident audit log and compliance."""

__all__ = [
    "audit",
    "audit_models",
    "ca",
    "cert_collect",
    "cert_models",
    "cert_store",
    "certs",
    "compliance",
    "sm",
    "tls_settings",
    "tlsscan",
    "vault",
]
