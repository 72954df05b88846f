"""The store's team: creating users, checking passwords, and the server-side sessions of signed-in browsers."""

from __future__ import annotations

import hashlib
import math
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.users.models import User, UserSession

COOKIE = "frontdesk_session"
ROLES = frozenset({"admin", "agent"})
MIN_PASSWORD_LENGTH = 10
SESSION_LIFETIME = timedelta(hours=12)
FREE_FAILURES = 5
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)
REFUSED = "wrong email or password"

#: Addresses with no account whose failures are remembered (the oldest forgotten first), so that signing in as
#: nobody locks exactly as signing in as someone does and the lockout does not tell which accounts exist.
UNKNOWN_ADDRESSES_KEPT = 10_000

_hasher = PasswordHasher()
# Verified against when the email is unknown, so that answering "no such user" takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass
class _Failures:
    """Failed sign-ins of an address with no account: what a User row keeps for one that has an account."""

    failed_sign_ins: int = 0
    locked_until: datetime | None = None


# Per process, like the connections: with several `serve` processes each keeps its own.
_unknown: OrderedDict[str, _Failures] = OrderedDict()


class UserError(Exception):
    """A user that cannot be created or changed, with a message for the admin."""


class SignInRefused(Exception):
    def __init__(self, message: str, retry_after_seconds: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_seconds = retry_after_seconds


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise UserError(f"{email!r} is not a valid email address: {exc}") from exc


async def create_user(session: AsyncSession, email: str, role: str, password: str, name: str = "") -> User:
    """Add a user and commit; the password is stored as an argon2 hash only."""
    address = normalize_email(email)
    if role not in ROLES:
        raise UserError(f"the role must be admin or agent, not {role!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if await session.scalar(select(User.id).where(User.email == address)) is not None:
        raise UserError(f"a user with the email {address} already exists")
    user = User(email=address, name=name.strip(), role=role, password_hash=_hasher.hash(password))
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:  # created by someone else between the check and the commit
        await session.rollback()
        raise UserError(f"a user with the email {address} already exists") from exc
    return user


async def authenticate(session: AsyncSession, email: str, password: str, now: datetime) -> User:
    """The user with this email and password, or SignInRefused; counts failures and locks the account a while."""
    try:
        address = normalize_email(email)
    except UserError:
        address = email.strip().lower()
    user = await session.scalar(select(User).where(User.email == address))
    if user is None:
        failures = _unknown.pop(address, None) or _Failures()
        _unknown[address] = failures
        while len(_unknown) > UNKNOWN_ADDRESSES_KEPT:
            _unknown.popitem(last=False)
        _refuse_while_locked(failures, now)
        _verify(_DUMMY_HASH, password)
        _count_failure(failures, now)
    _refuse_while_locked(user, now)
    if not _verify(user.password_hash, password):
        try:
            _count_failure(user, now)
        finally:
            await session.commit()
    if not user.active:
        raise SignInRefused("this account is deactivated; ask an admin of the store")
    user.failed_sign_ins = 0
    user.locked_until = None
    user.last_sign_in_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    await session.commit()
    return user


def _refuse_while_locked(account: User | _Failures, now: datetime) -> None:
    """SignInRefused while the address is locked: the password is not even checked, guessing must wait."""
    if account.locked_until is not None and _aware(account.locked_until) > now:
        left = _aware(account.locked_until) - now
        raise SignInRefused(_locked_message(left), _seconds(left))


def _count_failure(account: User | _Failures, now: datetime) -> NoReturn:
    """Count a wrong password, lock the address once there were too many, and refuse."""
    account.failed_sign_ins += 1
    delay = _lock_delay(account.failed_sign_ins)
    account.locked_until = now + delay if delay else None
    if delay:
        raise SignInRefused(_locked_message(delay), _seconds(delay))
    raise SignInRefused(REFUSED)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _lock_delay(failures: int) -> timedelta | None:
    if failures < FREE_FAILURES:
        return None
    doublings = min(failures - FREE_FAILURES, 10)  # 30 s · 2**5 already passes the 15 minutes cap
    return min(FIRST_LOCK * 2**doublings, LONGEST_LOCK)


def _seconds(delay: timedelta) -> int:
    return max(1, math.ceil(delay.total_seconds()))


def _locked_message(delay: timedelta) -> str:
    seconds = _seconds(delay)
    wait = f"{seconds} seconds" if seconds < 120 else f"{-(-seconds // 60)} minutes"
    return f"too many failed sign-ins: try again in {wait}"


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes even for timezone-aware columns; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(session: AsyncSession, user: User, now: datetime) -> str:
    """A new signed-in session for the user; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    await session.commit()
    return token


async def session_of(session: AsyncSession, token: str, now: datetime) -> tuple[User, UserSession] | None:
    """The user and session of a cookie's token, or None when unknown, expired, or the user was deactivated."""
    if not token:
        return None
    row = (
        await session.execute(
            select(User, UserSession)
            .join(UserSession, UserSession.user_id == User.id)
            .where(UserSession.token_hash == _token_hash(token))
        )
    ).first()
    if row is None:
        return None
    user, user_session = row
    if _aware(user_session.expires_at) <= now or not user.active:
        return None
    return user, user_session


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(UserSession).where(UserSession.token_hash == _token_hash(token)))
    await session.commit()


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.email))).all()


async def set_away(session: AsyncSession, user_id: int, away: bool) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserError(f"no user with id {user_id}")
    user.away = away
    await session.commit()
    return user


async def is_away(session: AsyncSession, user_id: int) -> bool:
    return bool(await session.scalar(select(User.away).where(User.id == user_id)))


async def any_users(session: AsyncSession) -> bool:
    return await session.scalar(select(User.id).limit(1)) is not None


async def display_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    """What the team sees for each user: the name, or the email when there is none."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.name, User.email).where(User.id.in_(wanted)))
    return {user_id: name or email for user_id, name, email in rows}


async def team_emails(session: AsyncSession) -> list[str]:
    """Where team alerts go: every active agent and admin."""
    rows = await session.scalars(
        select(User.email).where(User.active.is_(True), User.role.in_(("agent", "admin"))).order_by(User.id)
    )
    return list(rows.all())
