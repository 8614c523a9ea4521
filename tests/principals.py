"""Authenticated callers for tests that call the gateway's services directly (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard_ws.auth.principal import Principal
from dashboard_ws.security.roles import Role


def principal(role: str = "admin", user: str = "ana") -> Principal:
    return Principal(
        user=user,
        role=Role(role),
        via="bearer",
        ends_at=datetime.now(UTC) + timedelta(hours=1),
        address="127.0.0.1",
    )


ADMIN = principal("admin")
VIEWER = principal("viewer", "vic")
