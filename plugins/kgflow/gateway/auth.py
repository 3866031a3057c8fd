"""Bearer JWT (HS256 or RS256, at most 15 minutes) and API keys -> a Principal with role and departments."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import jwt

from kgflow.config import Settings
from kgflow.gateway.errors import ApiError
from kgflow.sources.policy import ALL, valid_department
from kgflow.tokens import DEPARTMENTS_CLAIM

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


# One claim name for JWTs and API keys: `departments` (a list, or one string). `department` is accepted
# as well, for tokens minted before the names were unified; a token carrying both is refused.
LEGACY_CLAIM = "department"


def _departments(claims: dict) -> frozenset[str]:
    if DEPARTMENTS_CLAIM in claims and LEGACY_CLAIM in claims:
        raise Authenticator.unauthorized("token carries both 'departments' and 'department': send one")
    claim = claims.get(DEPARTMENTS_CLAIM, claims.get(LEGACY_CLAIM))
    if claim is None:
        return frozenset()
    values = [claim] if isinstance(claim, str) else claim
    if not isinstance(values, list) or not all(v == ALL or valid_department(v) for v in values):
        raise Authenticator.unauthorized("claim 'departments' must be a department name or a list of them "
                                         "(lower-case letters, digits, '-' and '_')")
    return frozenset(values)


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
            scheme, _, token = authorization.strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise self.unauthorized("Authorization must be 'Bearer <token>'")
        token = token or (api_key or "").strip()
        if not token:
            raise self.unauthorized("missing credentials: send 'Authorization: Bearer <JWT or API key>'")
        return self._from_jwt(token) if token.count(".") == 2 else self._from_api_key(token)

    def _from_jwt(self, token: str) -> Principal:
        if self.s.jwt_public_key:
            key, algs = self.s.jwt_public_key, ["RS256"]
        elif self.s.jwt_secret:
            key, algs = self.s.jwt_secret, ["HS256"]
        else:
            raise self.unauthorized("JWT authentication is not configured on this gateway")
        try:
            claims = jwt.decode(token, key, algorithms=algs, options={"require": ["exp", "iat", "sub"]})
        except jwt.ExpiredSignatureError as e:
            raise self.unauthorized("token expired") from e
        except (jwt.PyJWTError, ValueError, TypeError) as e:
            raise self.unauthorized(f"invalid token: {e}"[:200]) from e
        exp, iat = claims["exp"], claims["iat"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
            raise self.unauthorized("claims 'exp' and 'iat' must be numbers (seconds since the epoch)")
        if exp - iat > self.s.jwt_max_ttl_s:
            raise self.unauthorized(f"token lifetime exceeds {self.s.jwt_max_ttl_s // 60} minutes")
        if not isinstance(claims["sub"], str) or not claims["sub"].strip() or len(claims["sub"]) > 256:
            raise self.unauthorized("claim 'sub' must be a non-empty string")
        return self._principal(claims["sub"], claims.get("role"), _departments(claims))

    def _from_api_key(self, key: str) -> Principal:
        entry = self._keys.get(hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest())
        if not isinstance(entry, dict):
            raise self.unauthorized("unknown API key")
        return self._principal(str(entry.get("sub", "api-key")), entry.get("role"), _departments(entry))

    def _principal(self, sub: str, role, depts: frozenset[str]) -> Principal:
        if not isinstance(role, str) or role not in ROLES:
            raise RoleRefused(sub, str(role)[:40])
        if role == "admin" and not depts:
            depts = frozenset({ALL})
        if ALL in depts and role not in self.s.wildcard_department_roles:
            raise ApiError(403, f"department '*' (every department) is not granted to role {role!r}; "
                                "list the departments instead")
        return Principal(sub, role, depts)

    @staticmethod
    def unauthorized(message: str) -> ApiError:
        return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


class RoleRefused(ApiError):
    """A validly signed caller whose role is none of kgflow's: refused, and audited under its own subject."""

    def __init__(self, sub: str, role: str) -> None:
        super().__init__(403, f"role {role!r} may not use this API")
        self.sub, self.role = sub, role


def require_role(p: Principal, *roles: str) -> None:
    if p.role not in roles:
        raise ApiError(403, f"this endpoint needs role {' or '.join(roles)}; caller has {p.role}")
