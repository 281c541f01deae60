"""Tables of console accounts and of the login throttle (migrations 0007_console, 0013_console_accounts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from inventory.models import Base


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(32), default="auditor")
    # local accounts hold a scrypt hash; OIDC accounts hold "" and never log in with a password.
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    source: Mapped[str] = mapped_column(String(16), default="local")
    active: Mapped[bool] = mapped_column(default=True)
    # What the account may see: the whole city, or these departments; neither means nothing.
    city_wide: Mapped[bool] = mapped_column(default=False)
    departments: Mapped[list[Any]] = mapped_column(default=list)
    # Raised when the password is reset or the account disabled: older sessions end.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_login: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class LoginThrottle(Base):
    """Failed sign-ins per key ("addr:..." or "user:<sha256>"), shared by every console process."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
