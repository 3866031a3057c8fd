"""Embedded default only: per-installation secrets in $KGFLOW_HOME/secrets (0600) when the environment
provides none. Production passes KGFLOW_JWT_SECRET / KGFLOW_JWT_PUBLIC_KEY / KGFLOW_AUDIT_HMAC_KEY."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from kgflow.config import get_settings


def local_secret(secrets_dir: Path, name: str) -> str:
    """The secret stored as <secrets_dir>/<name>, created once (0600 in a 0700 folder)."""
    path = secrets_dir / name
    if not path.exists():
        secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()  # another worker created it first
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def ensure_local_secret() -> str:
    if os.environ.get("KGFLOW_JWT_SECRET"):
        return os.environ["KGFLOW_JWT_SECRET"]
    os.environ["KGFLOW_JWT_SECRET"] = local_secret(get_settings().secrets_dir, "jwt_secret")
    return os.environ["KGFLOW_JWT_SECRET"]
