"""Secrets at rest: encrypted with Fernet under FRONTDESK_SECRET_KEY, never logged, never returned."""

from __future__ import annotations

import os
from collections.abc import Iterable
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

    def check(self, stored: Iterable[tuple[str, str]], source: str) -> None:
        """Raise VaultError naming every stored secret (what it is, its token) this key does not open."""
        unopened = [name for name, token in stored if not self._opens(token)]
        if unopened:
            raise VaultError(
                f"{source} does not open {', '.join(unopened)} stored in the database: it is not the key they were "
                "encrypted with. Start frontdesk with the key kept with this database's backup (docs/deployment.md)."
            )

    def _opens(self, token: str) -> bool:
        try:
            self._fernet.decrypt(token.encode())
        except (InvalidToken, ValueError, TypeError):
            return False
        return True

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise VaultError("a stored secret cannot be decrypted: was FRONTDESK_SECRET_KEY changed?") from exc


def key_file_of(sqlite_path: Path) -> Path:
    return sqlite_path.with_name(sqlite_path.name + ".key")


def key_source(configured: str | None, sqlite_path: Path | None) -> str:
    """Where the key comes from, for messages: the variable, or the key file beside the SQLite database."""
    if configured or sqlite_path is None:
        return "FRONTDESK_SECRET_KEY"
    return f"the key file {key_file_of(sqlite_path)}"


def require_key_source(configured: str | None, sqlite_path: Path | None) -> None:
    """Raise VaultError when there is nowhere a key could come from (PostgreSQL without FRONTDESK_SECRET_KEY): known
    before the database is reached."""
    if not configured and sqlite_path is None:
        raise VaultError("set FRONTDESK_SECRET_KEY: secrets are encrypted at rest and PostgreSQL installs need a key")


def key_for(configured: str | None, sqlite_path: Path | None, holds_secrets: bool = False) -> str:
    """The configured key; on a one-machine SQLite install without one, a key file kept beside the database. A new
    key file is made only for a database that holds no encrypted secret yet (`holds_secrets`): one restored without
    its key file is refused, since a new key would silently lose everything encrypted under the old one."""
    if configured:
        return configured
    require_key_source(configured, sqlite_path)
    assert sqlite_path is not None
    key_file = key_file_of(sqlite_path)
    if key_file.exists():
        return key_file.read_text().strip()
    if holds_secrets:
        raise VaultError(
            f"the database {sqlite_path} holds encrypted secrets but its key file {key_file} is missing: put back the "
            "key file that was backed up with this database (or set FRONTDESK_SECRET_KEY to the key in it). "
            "A new key would not open those secrets, so none is made."
        )
    key = Fernet.generate_key().decode()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
