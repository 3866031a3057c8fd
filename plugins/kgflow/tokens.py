"""Bearer tokens as an identity provider issues them, and the per-installation secrets of the embedded
default. Below every service: the gateway verifies what is minted here, and its clients (the CLI, the
deployer, the demo, tests) mint here, so no client imports the gateway."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import jwt

from kgflow.config import Settings

DEPARTMENTS_CLAIM = "departments"


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


def signing_secret(s: Settings) -> str:
    """The HS256 secret tokens for this installation are signed with: KGFLOW_JWT_SECRET (production), else the
    per-installation one in <home>/secrets (embedded default)."""
    return s.jwt_secret or local_secret(s.secrets_dir, "jwt_secret")


def mint_token(secret: str, sub: str, role: str = "api_user", departments: list[str] | None = None,
               ttl_s: int = 900, now: float | None = None, algorithm: str = "HS256") -> str:
    """A token as an identity provider would issue it (for the CLI, the deployer, the demo and tests)."""
    now = int(now if now is not None else time.time())
    claims = {"sub": sub, "role": role, "iat": now, "exp": now + ttl_s}
    if departments is not None:
        claims[DEPARTMENTS_CLAIM] = departments
    return jwt.encode(claims, secret, algorithm=algorithm)
