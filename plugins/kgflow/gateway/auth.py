"""Bearer JWT (HS256 or RS256, at most 15 minutes) and API keys -> a Principal with role and departments."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from kgflow.config import Settings
from kgflow.gateway.errors import ApiError

ROLES = ("admin", "api_user")


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    departments: frozenset[str] | None  # None: no restriction (auth disabled)

    @property
    def key(self) -> str:
        return self.sub


ANONYMOUS = Principal("anonymous", "api_user", None)


def _departments(claim) -> frozenset[str]:
    if claim is None:
        return frozenset()
    return frozenset([claim] if isinstance(claim, str) else claim)


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self._keys = self._load_keys(settings.api_keys_file)

    @staticmethod
    def _load_keys(path: Path | None) -> dict[str, dict]:
        return json.loads(Path(path).read_text()) if path and Path(path).exists() else {}

    def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        if not self.s.auth_required:
            return ANONYMOUS
        token = None
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise self._unauthorized("Authorization must be 'Bearer <token>'")
        token = token or api_key
        if not token:
            raise self._unauthorized("missing credentials: send 'Authorization: Bearer <JWT or API key>'")
        return self._from_jwt(token) if token.count(".") == 2 else self._from_api_key(token)

    def _from_jwt(self, token: str) -> Principal:
        if self.s.jwt_public_key:
            key, algs = self.s.jwt_public_key, ["RS256"]
        elif self.s.jwt_secret:
            key, algs = self.s.jwt_secret, ["HS256"]
        else:
            raise self._unauthorized("JWT authentication is not configured on this gateway")
        try:
            claims = jwt.decode(token, key, algorithms=algs, options={"require": ["exp", "iat", "sub"]})
        except jwt.ExpiredSignatureError as e:
            raise self._unauthorized("token expired") from e
        except jwt.PyJWTError as e:
            raise self._unauthorized(f"invalid token: {e}") from e
        if claims["exp"] - claims["iat"] > self.s.jwt_max_ttl_s:
            raise self._unauthorized(f"token lifetime exceeds {self.s.jwt_max_ttl_s // 60} minutes")
        return self._principal(claims.get("sub"), claims.get("role"), claims.get("department"))

    def _from_api_key(self, key: str) -> Principal:
        entry = self._keys.get(hashlib.sha256(key.encode()).hexdigest())
        if entry is None:
            raise self._unauthorized("unknown API key")
        return self._principal(entry.get("sub", "api-key"), entry.get("role"), entry.get("departments"))

    def _principal(self, sub, role, departments) -> Principal:
        if role not in ROLES:
            raise ApiError(403, f"role {role!r} may not use this API")
        depts = _departments(departments)
        if role == "admin" and not depts:
            depts = frozenset({"*"})
        return Principal(str(sub), role, depts)

    @staticmethod
    def _unauthorized(message: str) -> ApiError:
        return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def mint_token(secret: str, sub: str, role: str = "api_user", departments: list[str] | None = None,
               ttl_s: int = 900, now: float | None = None, algorithm: str = "HS256") -> str:
    """A token as an identity provider would issue it (for the CLI, the demo and tests)."""
    now = int(now if now is not None else time.time())
    claims = {"sub": sub, "role": role, "iat": now, "exp": now + ttl_s}
    if departments is not None:
        claims["department"] = departments
    return jwt.encode(claims, secret, algorithm=algorithm)


def require_role(p: Principal, *roles: str) -> None:
    if p.role not in roles:
        raise ApiError(403, f"this endpoint needs role {' or '.join(roles)}; caller has {p.role}")
