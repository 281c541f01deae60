"""Console accounts: department scope, session epoch, and a shared login throttle.

The per-account lockout columns go: a lockout anyone could trigger is replaced by growing
delays per client address and per account in login_throttle. Accounts that exist before this
revision get no scope (they see nothing once scope is enforced) until an administrator runs
`ganyun users set-scope`: no account becomes city-wide silently.

Revision ID: 0013_console_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_console_accounts"
down_revision = "0007_console"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("city_wide", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("departments", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"))
        batch.drop_column("failed_attempts")
        batch.drop_column("locked_until")
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(96), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_failure", TS, nullable=True),
        sa.Column("blocked_until", TS, nullable=True),
    )
    op.create_index("ix_login_throttle_last_failure", "login_throttle", ["last_failure"])


def downgrade() -> None:
    op.drop_index("ix_login_throttle_last_failure", table_name="login_throttle")
    op.drop_table("login_throttle")
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", TS, nullable=True))
        batch.drop_column("session_epoch")
        batch.drop_column("departments")
        batch.drop_column("city_wide")
