"""ganyun's error tree, importable from every layer.

`GanyunError > ProviderError > (AuthError, NotFound, Throttled, Unavailable, BadResponse)`,
`ConfigError`, `CryptoError`, `PlaybookError`. The CLI prints a GanyunError's message as one
line; anything else escaping a command is a bug.
"""

from __future__ import annotations

from providers.masking import mask

__all__ = [
    "AuthError",
    "BadResponse",
    "ConfigError",
    "CryptoError",
    "GanyunError",
    "NotFound",
    "PlaybookError",
    "ProviderError",
    "Throttled",
    "Unavailable",
]


class GanyunError(Exception):
    """Root of every error ganyun raises on purpose; the CLI prints its message only.

    Its text is masked when the error is made (providers/masking.py): a message built from
    what an endpoint answered never carries a credential this process knows."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(mask(a) if isinstance(a, str) else a for a in args))


class ConfigError(GanyunError):
    """Configuration or user-written input is invalid."""


class CryptoError(GanyunError):
    """A cryptographic operation failed or an input is not valid key/cert material."""


class PlaybookError(GanyunError):
    """An Ansible run failed."""


class ProviderError(GanyunError):
    """A provider call failed. The message always names the provider and the call."""

    def __init__(self, provider: str, call: str, message: str) -> None:
        self.provider = provider
        self.call = call
        self.detail = mask(message)
        super().__init__(f"{provider}: {call}: {message}")


class AuthError(ProviderError):
    """Credentials rejected (401) or not allowed (403)."""


class NotFound(ProviderError):
    """The resource or the API endpoint does not exist."""


class Throttled(ProviderError):
    """The provider asked us to slow down (429)."""


class Unavailable(ProviderError):
    """The provider could not be reached, timed out or answered 5xx."""


class BadResponse(ProviderError):
    """The provider answered something we cannot parse (garbage, truncated pages)."""
