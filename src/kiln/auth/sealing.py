"""Secrets at rest: sealed with the server's key file, because SigV4 needs the secret itself.

An access key's secret cannot be stored hashed (the server recomputes signatures with it), so it
is encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key kept in a 0600 file beside the
database. A copy of the database alone reveals no secret. Bearer API keys need no secret on the
server and are stored as SHA-256 digests only.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SealError(Exception):
    """A sealed secret the server key cannot open (another server's key file?)."""


class Sealer:
    """Seals and opens secrets with one server key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        """The sealer for the key in ``path``, creating the file (0600) on first use."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
            try:
                os.link(tmp, path)  # a concurrent first start may have won: keep its key
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        return cls(path.read_bytes().strip())

    def seal(self, secret: str) -> str:
        """The secret, encrypted and authenticated."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """The secret a ``seal`` produced."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealError("a stored secret does not open with this server's key file") from None
