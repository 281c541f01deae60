"""The `console:` section of the config: sessions, login throttling (OIDC is read by console.auth).

console:
  session_idle_minutes: 30        # signed out after this long without any interaction
  session_max_hours: 12           # signed out this long after signing in, whatever happens
  login_throttle:
    free_failures: 3              # failures before delays start (per address, per account)
    base_delay_s: 1               # first delay; each further failure doubles it
    account_cap_s: 60             # longest delay anyone can impose on one account
    address_cap_s: 900            # longest delay for one client address
    forget_after_s: 3600          # failures older than this no longer count
  oidc: {...}
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inventory.config import GanyunConfig, format_validation_error
from providers.errors import ConfigError


class ThrottleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    free_failures: int = Field(default=3, ge=0, le=100)
    base_delay_s: float = Field(default=1.0, gt=0, le=3600)
    # Small on purpose: a third party who knows a user name can delay that user this long.
    account_cap_s: float = Field(default=60.0, gt=0, le=3600)
    address_cap_s: float = Field(default=900.0, gt=0, le=86400)
    forget_after_s: float = Field(default=3600.0, gt=0, le=7 * 86400)


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    session_idle_minutes: float = Field(default=30, gt=0, le=7 * 24 * 60)
    session_max_hours: float = Field(default=12, gt=0, le=30 * 24)
    login_throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    oidc: dict[str, Any] | None = None

    @property
    def idle_timeout(self) -> timedelta:
        return timedelta(minutes=self.session_idle_minutes)

    @property
    def max_age(self) -> timedelta:
        return timedelta(hours=self.session_max_hours)


def console_settings(config: GanyunConfig) -> ConsoleSettings:
    try:
        return ConsoleSettings.model_validate(config.console or {})
    except ValidationError as exc:
        first = format_validation_error(exc).splitlines()[0]
        raise ConfigError(f"console.{first}") from None
