"""Secrets at rest: encrypted with Fernet under FRONTDESK_SECRET_KEY, never logged, never returned."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class VaultError(Exception):
    pass


class Vault:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise VaultError(
                "FRONTDESK_SECRET_KEY is not a Fernet key (32 url-safe base64 bytes); make one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from exc

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise VaultError("a stored secret cannot be decrypted: was FRONTDESK_SECRET_KEY changed?") from exc


def key_for(configured: str | None, sqlite_path: Path | None) -> str:
    """The configured key; on a one-machine SQLite install without one, a key file kept beside the database."""
    if configured:
        return configured
    if sqlite_path is None:
        raise VaultError("set FRONTDESK_SECRET_KEY: secrets are encrypted at rest and PostgreSQL installs need a key")
    key_file = sqlite_path.with_name(sqlite_path.name + ".key")
    if key_file.exists():
        return key_file.read_text().strip()
    key = Fernet.generate_key().decode()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
