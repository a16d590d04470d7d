"""Principals and their credentials, in the metadata store, with a short-lived cache in front.

Three kinds of credential name a principal:
- ``access``: a long-term SigV4 key pair (``AKIK…``) of a user;
- ``session``: temporary SigV4 keys (``ASIK…``) plus a session token, of a role, for one job or
  replica; they expire, and are revoked when their job or replica ends;
- ``bearer``: an API key for curl, browsers and load generators (``Authorization: Bearer
  kiln_<id>_<secret>``), stored as a SHA-256 digest.
Lookups, found or not, are cached for a few seconds (at most ``CACHE_ENTRIES``), so the hot path
and made-up keys do no database read; a revocation made
through this process takes effect at once, one made by another server within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import string
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from kiln.auth.errors import EXPIRED_TOKEN, UNKNOWN_KEY, AuthError, Refusal
from kiln.auth.policies import Policy
from kiln.auth.principals import ADMIN_USER, DEFAULT_ROLE, Principal
from kiln.auth.sealing import Sealer, SealError
from kiln.config import Credentials
from kiln.db.tables import credentials as credentials_table
from kiln.db.tables import principals as principals_table
from kiln.errors import KilnError

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10_000
_KEY_ALPHABET = string.ascii_uppercase + string.digits
BEARER_PREFIX = "kiln_"


class UnknownPrincipalError(KilnError):
    """No user or role by that name."""


@dataclass(frozen=True)
class SessionCredentials:
    """Temporary keys handed to one job or replica."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiry_time: float


@dataclass(frozen=True)
class KeyInfo:
    """A credential as ``kiln keys ls`` shows it (never its secret)."""

    key_id: str
    kind: str
    principal: str
    description: str
    creation_time: float
    expiry_time: float | None
    revoked_time: float | None


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    secret: str | None
    secret_hash: str | None
    token_hash: str | None
    expiry_time: float | None


class KeyStore:
    """Creates, finds and revokes credentials; the gate's only source of truth."""

    def __init__(self, engine: Engine, sealer: Sealer) -> None:
        self._engine = engine
        self._sealer = sealer
        self._cache: dict[str, tuple[_Entry | None, float]] = {}
        self._lock = threading.Lock()

    # -- principals ---------------------------------------------------------------------------

    def put_principal(self, name: str, kind: str, policies: Sequence[Policy]) -> None:
        """Create or replace a user or role and its policies."""
        documents = [policy.document for policy in policies]
        with self._engine.begin() as connection:
            found = connection.execute(
                select(principals_table.c.kind).where(principals_table.c.name == name)
            ).first()
            if found is not None and found.kind != kind:
                raise KilnError(f"{name!r} is a {found.kind}; a {kind} cannot take its name")
            if found is None:
                connection.execute(
                    insert(principals_table).values(
                        name=name, kind=kind, policies=documents, creation_time=time.time()
                    )
                )
            else:
                connection.execute(
                    update(principals_table)
                    .where(principals_table.c.name == name)
                    .values(policies=documents)
                )
        self._forget_all()

    def principal(self, name: str, session: str | None = None) -> Principal | None:
        """The user or role named ``name``, or None."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(principals_table).where(principals_table.c.name == name)
            ).first()
        if row is None:
            return None
        policies = tuple(Policy.parse(document) for document in row.policies)
        return Principal(row.name, row.kind, policies, session)

    def ensure_admin(self, admin: Credentials, admin_policy: Policy, role_policy: Policy) -> None:
        """The owner's key pair names the ``admin`` user; the default role exists."""
        if self.principal(ADMIN_USER) is None:
            self.put_principal(ADMIN_USER, "user", [admin_policy])
        if self.principal(DEFAULT_ROLE) is None:
            self.put_principal(DEFAULT_ROLE, "role", [role_policy])
        sealed = self._sealer.seal(admin.secret_access_key)
        with self._engine.begin() as connection:
            row = connection.execute(
                select(credentials_table).where(credentials_table.c.key_id == admin.access_key_id)
            ).first()
            if row is None:
                connection.execute(
                    insert(credentials_table).values(
                        key_id=admin.access_key_id, kind="access", principal=ADMIN_USER,
                        secret_sealed=sealed, description="the owner's key (KILN_HOME)",
                        creation_time=time.time(),
                    )
                )  # fmt: skip
            elif row.revoked_time is None and self._sealer.open(row.secret_sealed) != (
                admin.secret_access_key
            ):
                connection.execute(
                    update(credentials_table)
                    .where(credentials_table.c.key_id == admin.access_key_id)
                    .values(secret_sealed=sealed)
                )
        self._forget(admin.access_key_id)

    # -- credentials --------------------------------------------------------------------------

    def create_access_key(self, principal: str, description: str = "") -> Credentials:
        """A new long-term key pair for a user."""
        self._require(principal)
        key_id = "AKIK" + _random_id(16)
        secret = secrets.token_urlsafe(30)[:40]
        self._insert(key_id, "access", principal, description,
                     secret_sealed=self._sealer.seal(secret))  # fmt: skip
        return Credentials(key_id, secret)

    def create_session(
        self, role: str, session_name: str, seconds: float, description: str = ""
    ) -> SessionCredentials:
        """Temporary keys for a session of ``role`` (the default role if there is no such)."""
        if self.principal(role) is None:
            role = DEFAULT_ROLE
        key_id = "ASIK" + _random_id(16)
        secret = secrets.token_urlsafe(30)[:40]
        token = secrets.token_urlsafe(96)
        expiry = time.time() + seconds
        self._insert(key_id, "session", role, description or f"session {session_name}",
                     secret_sealed=self._sealer.seal(secret), token_hash=_digest(token),
                     session_name=session_name[:64], expiry_time=expiry)  # fmt: skip
        return SessionCredentials(key_id, secret, token, expiry)

    def create_api_key(self, principal: str, description: str = "") -> str:
        """A new bearer API key; the only time its text is known."""
        self._require(principal)
        key_id = "kb" + secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        self._insert(key_id, "bearer", principal, description, secret_hash=_digest(secret))
        return f"{BEARER_PREFIX}{key_id}_{secret}"

    def revoke(self, key_id: str) -> bool:
        """Revoke a credential at once; whether there was a live one by that id."""
        with self._engine.begin() as connection:
            result = connection.execute(
                update(credentials_table)
                .where(credentials_table.c.key_id == key_id)
                .where(credentials_table.c.revoked_time.is_(None))
                .values(revoked_time=time.time())
            )
        self._forget(key_id)
        return bool(result.rowcount)

    def keys(self, *, include_sessions: bool = False) -> list[KeyInfo]:
        """The credentials that are not revoked (sessions only if asked)."""
        statement = select(credentials_table).where(credentials_table.c.revoked_time.is_(None))
        if not include_sessions:
            statement = statement.where(credentials_table.c.kind != "session")
        with self._engine.connect() as connection:
            rows = connection.execute(statement.order_by(credentials_table.c.creation_time)).all()
        return [
            KeyInfo(row.key_id, row.kind, row.principal, row.description, row.creation_time,
                    row.expiry_time, row.revoked_time)
            for row in rows
        ]  # fmt: skip

    # -- the gate's lookups -------------------------------------------------------------------

    def signing_secret(self, key_id: str, token: str | None, now: float) -> tuple[Principal, str]:
        """The principal and secret behind a SigV4 access key; refuses unknown or expired ones."""
        entry = self._entry(key_id, now)
        if entry is None or entry.secret is None:
            raise AuthError(Refusal.UNKNOWN_KEY, UNKNOWN_KEY)
        if entry.token_hash is not None:
            if token is None or not hmac.compare_digest(_digest(token), entry.token_hash):
                raise AuthError(Refusal.UNKNOWN_KEY, UNKNOWN_KEY)
        elif token is not None:
            raise AuthError(Refusal.UNKNOWN_KEY, UNKNOWN_KEY)
        if entry.expiry_time is not None and now >= entry.expiry_time:
            raise AuthError(Refusal.EXPIRED_TOKEN, EXPIRED_TOKEN)
        return entry.principal, entry.secret

    def bearer(self, api_key: str, now: float) -> Principal:
        """The principal behind a bearer API key; ``UnrecognizedClient`` otherwise."""
        key_id, _, secret = api_key.removeprefix(BEARER_PREFIX).partition("_")
        entry = self._entry(key_id, now) if api_key.startswith(BEARER_PREFIX) else None
        if entry is None or entry.secret_hash is None:
            raise AuthError(Refusal.UNKNOWN_KEY, UNKNOWN_KEY)
        if not hmac.compare_digest(_digest(secret), entry.secret_hash):
            raise AuthError(Refusal.UNKNOWN_KEY, UNKNOWN_KEY)
        return entry.principal

    def _entry(self, key_id: str, now: float) -> _Entry | None:
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[1] < CACHE_SECONDS:
            return cached[0]
        # Unknown keys are remembered too: requests with made-up keys cost no database read.
        entry = self._load(key_id)
        with self._lock:
            if len(self._cache) >= CACHE_ENTRIES:  # made-up keys must not grow it without end
                self._cache.clear()
            self._cache[key_id] = (entry, now)
        return entry

    def _load(self, key_id: str) -> _Entry | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(credentials_table).where(credentials_table.c.key_id == key_id)
            ).first()
        if row is None or row.revoked_time is not None:
            return None
        principal = self.principal(row.principal, row.session_name)
        if principal is None:
            return None
        try:
            secret = self._sealer.open(row.secret_sealed) if row.secret_sealed else None
        except SealError as e:
            log.error("credential %s: %s", key_id, e)
            return None
        return _Entry(principal, secret, row.secret_hash, row.token_hash, row.expiry_time)

    def _insert(self, key_id: str, kind: str, principal: str, description: str,
                **columns: Any) -> None:  # fmt: skip
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(credentials_table).values(
                        key_id=key_id, kind=kind, principal=principal,
                        description=description[:256], creation_time=time.time(), **columns,
                    )
                )  # fmt: skip
        except IntegrityError:  # pragma: no cover - 16 random characters do not collide
            raise KilnError("a credential with this id exists; try again") from None
        self._forget(key_id)

    def _require(self, principal: str) -> None:
        if self.principal(principal) is None:
            raise UnknownPrincipalError(f"No user or role named {principal!r}")

    def _forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)

    def _forget_all(self) -> None:
        with self._lock:
            self._cache.clear()


def _random_id(length: int) -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(length))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
