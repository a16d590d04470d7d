"""The store behind the front: rclone on a private loopback port, with a key only the server has.

The key is made afresh at each start and lives in the server's memory and rclone's environment
only: no file, no client, no job holds it, so every request from outside the server passes the
front, the owner's included (revoking a key takes effect on S3 as on the API).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, replace

from kiln.config import Credentials, Settings
from kiln.ports import free_port

_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Back:
    """Where rclone listens (loopback) and the one key it accepts."""

    port: int
    credentials: Credentials

    @classmethod
    def fresh(cls, front_port: int) -> Back:
        """A free port other than the front's and a new key (AWS's lengths: rclone refuses
        short keys). The front's port is not bound yet, so the OS may offer it again."""
        port = free_port()
        while port == front_port:
            port = free_port()
        key_id = "AKIKBACK" + "".join(secrets.choice(_ALPHABET) for _ in range(12))
        return cls(port, Credentials(key_id, secrets.token_urlsafe(30)[:40]))

    @property
    def url(self) -> str:
        """rclone's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def settings(self, settings: Settings) -> Settings:
        """``settings`` as the server's own store client and rclone's supervisor see the store."""
        return replace(settings, s3_port=self.port, s3_credentials=self.credentials)
