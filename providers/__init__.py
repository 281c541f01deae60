"""Adapters to the clouds: records and the error tree in, nothing of an SDK out.

Other layers use the records (base), the errors, secret masking and the registry that makes
an adapter from a configuration entry; adapters themselves are reached only through it.
"""

__all__ = ["base", "capabilities", "errors", "mapping", "masking", "prometheus", "registry"]
