"""API keys, roles and the one permission table.

A key reads ``lbk_<key_id>_<secret>``: ``key_id`` (12 hex digits) is public and finds the row,
``secret`` is 32 random bytes (URL-safe base64). Only the SHA-256 of the whole key is stored; a
key of 256 random bits needs no salt or slow hash, as nobody can guess it. Lookups compare
digests with :func:`hmac.compare_digest` (constant time).

Roles (contracts/http.md): ``radiologist`` uploads, measures, records lesions and reads everything;
``edc`` reads burden, eligibility and response summaries only; ``admin`` manages keys and reads
the audit trail. Each route declares one :class:`Permission`; :data:`ROLE_PERMISSIONS` decides.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import audit
from app.db.models import ApiKey, utcnow
from app.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from app.vocab import Permission, Role

__all__ = [
    "ROLE_PERMISSIONS",
    "Permission",
    "Principal",
    "Role",
    "authenticate",
    "check_permission",
    "create_key",
    "hash_key",
    "list_keys",
    "revoke_key",
]

_KEY_RE = re.compile(r"^lbk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


#: The one permission table.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.RADIOLOGIST: frozenset(
        {
            Permission.UPLOAD,
            Permission.MANAGE_SUBJECTS,
            Permission.MEASURE,
            Permission.SEGMENT,
            Permission.EDIT_LESIONS,
            Permission.READ,
            Permission.READ_DICOM,
            Permission.ASSESS,
            Permission.READ_SUMMARY,
        }
    ),
    Role.EDC: frozenset({Permission.READ_SUMMARY}),
    Role.ADMIN: frozenset(
        {Permission.MANAGE_KEYS, Permission.READ_AUDIT, Permission.REPROCESS, Permission.ADOPT}
    ),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a valid key."""

    key_id: str
    role: Role
    name: str = ""

    @property
    def actor(self) -> str:
        """How the caller appears in audit events and ``created_by`` columns."""
        return f"{self.role}:{self.key_id}"


def hash_key(key: str) -> str:
    """SHA-256 hex digest of a whole API key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, role: Role | str, name: str, actor: str) -> tuple[ApiKey, str]:
    """Make a key for ``role``; return its row and the plain key (shown once, never stored)."""
    try:
        role = Role(role)
    except ValueError as exc:
        expected = ", ".join(r.value for r in Role)
        raise InvalidRequestError(f"unknown role {role!r}; expected one of {expected}") from exc
    key_id = secrets.token_hex(6)
    key = f"lbk_{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(key_id=key_id, key_hash=hash_key(key), role=role.value, name=name)
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "key.created", "api_key", key_id, {"role": role.value, "name": name}
    )
    return row, key


def list_keys(session: Session) -> list[ApiKey]:
    """Every key row, oldest first."""
    return list(session.execute(select(ApiKey).order_by(ApiKey.id)).scalars())


def revoke_key(session: Session, key_id: str, actor: str) -> ApiKey:
    """Revoke a key by its public id (idempotent); audited."""
    row = session.execute(select(ApiKey).where(ApiKey.key_id == key_id)).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no API key with id {key_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "key.revoked", "api_key", key_id, {"role": row.role})
    return row


def authenticate(session: Session, authorization: str | None) -> Principal:
    """Return the principal of an ``Authorization: Bearer <key>`` header (else a 401-type error)."""
    if not authorization:
        raise AuthenticationError("missing Authorization header; expected 'Bearer <api key>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("expected an 'Authorization: Bearer <api key>' header")
    match = _KEY_RE.match(token.strip())
    if match is None:
        raise AuthenticationError("malformed API key")
    row = session.execute(
        select(ApiKey).where(ApiKey.key_id == match.group(1))
    ).scalar_one_or_none()
    # Compare a digest even when no row exists, so timing does not reveal which key ids exist.
    stored = row.key_hash if row is not None else "0" * 64
    if not hmac.compare_digest(stored, hash_key(token.strip())) or row is None:
        raise AuthenticationError("unknown API key")
    if row.revoked_at is not None:
        raise AuthenticationError("this API key has been revoked")
    return Principal(key_id=row.key_id, role=Role(row.role), name=row.name)


def check_permission(principal: Principal, permission: Permission) -> None:
    """Raise a 403-type error unless the principal's role grants ``permission``."""
    if permission not in ROLE_PERMISSIONS[principal.role]:
        raise PermissionDeniedError(f"the {principal.role} role may not {permission.value}")
