"""The keys a training job or a model replica runs with: never the server's, never the owner's.

With the embedded store each job and each replica gets a session of its role (``RoleArn`` of
the job, ``ExecutionRoleArn`` of the model; the default role ``kiln`` where it names no known
role): temporary keys with a token and an expiry, accepted by the store's front and by the API
with that role's permissions, and revoked when the job or replica ends. An external store knows
nothing of Kiln's keys: there jobs get that store's own keys, as before, unless those are the
owner's key, which no job gets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from kiln.auth.keystore import KeyStore
from kiln.auth.principals import DEFAULT_ROLE, role_name
from kiln.config import Credentials, Settings
from kiln.errors import KilnError

log = logging.getLogger(__name__)

# Beyond MaxRuntimeInSeconds and the stop grace: the last checkpoint upload after SIGTERM and
# a slow first import must not meet an expired token.
JOB_MARGIN_SECONDS = 15 * 60
# Replicas run until their endpoint changes; their keys are revoked when they stop. The expiry
# only bounds keys a crashed server could not revoke; a week outlives most deployments between
# updates, and each new replica gets new keys.
REPLICA_SESSION_SECONDS = 7 * 24 * 3600


class KeySource(Enum):
    """Where a process's AWS keys come from."""

    SESSION = "a session of its role"
    STORE = "the external store's own keys"
    NONE = "no keys"


@dataclass(frozen=True)
class ProcessKeys:
    """The AWS keys one job or replica holds."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


def key_environment(keys: ProcessKeys | None) -> dict[str, str]:
    """``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and, for a session, its token."""
    if keys is None:
        return {}
    variables = {
        "AWS_ACCESS_KEY_ID": keys.access_key_id,
        "AWS_SECRET_ACCESS_KEY": keys.secret_access_key,
    }
    if keys.session_token is not None:
        variables["AWS_SESSION_TOKEN"] = keys.session_token
    return variables


def key_source(is_embedded_store: bool, store: Credentials, owner: Credentials) -> KeySource:
    """Which keys a process gets: a session with the front, else the store's (never the owner's)."""
    if is_embedded_store:
        return KeySource.SESSION
    return KeySource.NONE if store == owner else KeySource.STORE


def source_of(settings: Settings) -> KeySource:
    """Which keys ``settings``' jobs and replicas get."""
    return key_source(settings.is_embedded_s3, settings.s3_credentials, settings.credentials)


def check_keys_for_nodes(settings: Settings) -> None:
    """Refuse a server whose jobs stage on their nodes (with their own keys) but get none."""
    if settings.stages_on_nodes and source_of(settings) is KeySource.NONE:
        raise NoKeysForNodesError(
            "Refusing to start: jobs and replicas stage their files where they run "
            f"(KILN_BACKEND={settings.backend}, KILN_STAGING={settings.staging}) with keys of "
            "their own, and the external store's keys are the owner's, which no job gets. Set "
            "KILN_S3_ACCESS_KEY_ID/KILN_S3_SECRET_ACCESS_KEY to keys of the store for jobs "
            "(docs/scale-out-storage.md)."
        )


def session_role(role_arn: str | None, kind: str | None) -> str:
    """The role a session is of: ``role_arn``'s if it names a role (``kind``), else the default."""
    if role_arn is None or kind != "role":
        return DEFAULT_ROLE
    return role_name(role_arn)


def job_session_seconds(max_runtime_seconds: float, stop_grace_seconds: float) -> float:
    """How long a job's keys live: its runtime limit, its stop grace, and a margin."""
    return max_runtime_seconds + stop_grace_seconds + JOB_MARGIN_SECONDS


class ProcessCredentials:
    """Issues and revokes the keys of jobs and replicas."""

    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self._settings = settings
        self._keys = keys
        self._source = source_of(settings)
        if self._source is KeySource.NONE:
            log.warning(
                "jobs and replicas get no S3 keys: the external store's keys are the owner's "
                "(set KILN_S3_ACCESS_KEY_ID/KILN_S3_SECRET_ACCESS_KEY to keys for jobs)"
            )

    def for_job(
        self, job_name: str, role_arn: str | None, max_runtime_seconds: float
    ) -> ProcessKeys | None:
        """Keys for a training job's processes."""
        seconds = job_session_seconds(max_runtime_seconds, self._settings.stop_grace_seconds)
        return self._issue(role_arn, job_name, seconds, f"training job {job_name}")

    def for_replica(self, replica_id: str, role_arn: str | None) -> ProcessKeys | None:
        """Keys for one model replica."""
        return self._issue(
            role_arn, replica_id, REPLICA_SESSION_SECONDS, f"endpoint replica {replica_id}"
        )

    def revoke(self, keys: ProcessKeys | None) -> None:
        """Revoke a session's keys (an external store's keys stay: they are not Kiln's)."""
        if keys is None or keys.session_token is None:
            return
        try:
            self._keys.revoke(keys.access_key_id)
        except Exception as e:  # a full disk must not skip the rest of a job's or replica's end
            log.warning("keys %s not revoked (%s); they expire on their own", keys.access_key_id, e)

    def _issue(
        self, role_arn: str | None, session: str, seconds: float, description: str
    ) -> ProcessKeys | None:
        if self._source is KeySource.STORE:
            store = self._settings.s3_credentials
            return ProcessKeys(store.access_key_id, store.secret_access_key)
        if self._source is KeySource.NONE:
            return None
        named = role_name(role_arn) if role_arn else None
        found = self._keys.principal(named) if named else None
        role = session_role(role_arn, found.kind if found is not None else None)
        issued = self._keys.create_session(role, session, seconds, description)
        return ProcessKeys(issued.access_key_id, issued.secret_access_key, issued.session_token)


class NoKeysForNodesError(KilnError):
    """Processes that stage on their nodes would have no keys to reach the store with."""
