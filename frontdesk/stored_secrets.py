"""The secrets frontdesk keeps encrypted (the widget's identity secret, the integrations' credentials and reply
secrets), and the check that the key at hand opens them.

Run at start-up by the app and by `frontdesk serve` / `frontdesk worker`, and by /healthz: a database restored with
the wrong key, or without its key file, is refused with a message instead of running on while every signed `hello`
and every webhook fails."""

from __future__ import annotations

from frontdesk.channels.webchat import service as webchat
from frontdesk.config import Settings
from frontdesk.db import Database
from frontdesk.integrations import service as integrations
from frontdesk.vault import Vault, key_for, key_source


async def stored(database: Database) -> list[tuple[str, str]]:
    """Every encrypted secret in the database, as (what it is, token)."""
    async with database.session() as session:
        return [*await webchat.encrypted_secrets(session), *await integrations.encrypted_secrets(session)]


async def open_vault(settings: Settings, database: Database) -> tuple[Vault, str]:
    """The vault and its key, once the key is known to open every stored secret; VaultError, with a message for the
    operator, when it does not (or when a SQLite database holding secrets lost its key file)."""
    secrets = await stored(database)
    configured = settings.secret_key.get_secret_value() if settings.secret_key else None
    key = key_for(configured, settings.sqlite_path, holds_secrets=bool(secrets))
    vault = Vault(key)
    vault.check(secrets, key_source(configured, settings.sqlite_path))
    return vault, key


async def check(settings: Settings, database: Database, vault: Vault) -> None:
    """Raise VaultError when a secret stored since start-up (by another process with another key, or a database
    swapped underneath) is one this vault cannot open."""
    configured = settings.secret_key.get_secret_value() if settings.secret_key else None
    vault.check(await stored(database), key_source(configured, settings.sqlite_path))
