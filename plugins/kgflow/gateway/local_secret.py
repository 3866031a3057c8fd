"""Embedded default only: a per-installation JWT secret in $KGFLOW_HOME/secrets (0600) when the
environment provides none. Production passes KGFLOW_JWT_SECRET / KGFLOW_JWT_PUBLIC_KEY."""

from __future__ import annotations

import os
import secrets

from kgflow.config import get_settings


def ensure_local_secret() -> str:
    if os.environ.get("KGFLOW_JWT_SECRET"):
        return os.environ["KGFLOW_JWT_SECRET"]
    path = get_settings().home / "secrets" / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    os.environ["KGFLOW_JWT_SECRET"] = path.read_text().strip()
    return os.environ["KGFLOW_JWT_SECRET"]
