"""The store's team: creating users, checking passwords, and the server-side sessions of signed-in browsers."""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from frontdesk.realtime.state import MemoryState, SharedState
from frontdesk.users.models import User, UserSession

COOKIE = "frontdesk_session"
ROLES = frozenset({"admin", "agent"})
MIN_PASSWORD_LENGTH = 10
#: zxcvbn's score (0-4) a password needs: 3 is "safely unguessable" (at least 10^8 guesses).
MIN_PASSWORD_SCORE = 3
ZXCVBN_MAX_CHARS = 72
SESSION_LIFETIME = timedelta(hours=12)
FREE_FAILURES = 5
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)
REFUSED = "wrong email or password"

#: How long the failures of an (address, IP) pair are remembered after its last one.
FAILURES_KEPT_SECONDS = 86_400.0
#: Sign-in attempts one IP address may start at once; then `SignIns.ip_attempts_per_minute` more each minute.
IP_ATTEMPTS_BURST = 20
#: argon2 hashes computed at once, each in a thread of its own (about 180 ms and 64 MiB each).
HASHING_THREADS = 2

_hasher = PasswordHasher()
# Verified against when the email is unknown, so that answering "no such user" takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class SignIns:
    """What signing in keeps between attempts (app.state.sign_ins): the failures of each (address, IP address) pair
    and their lockout, each IP address's attempts, and the few threads argon2 runs in.

    A lockout holds for one address *from one IP address*: whoever knows a colleague's email can lock only themselves
    out, never the colleague signing in from elsewhere. Guessing from many addresses is slowed by the per-IP limit,
    and an address with no account locks exactly as one with an account does, so neither tells which accounts exist.
    The counts are in the shared state (`realtime.state`): with Redis, every serving process sees the same."""

    def __init__(
        self,
        ip_attempts_per_minute: int = 10,
        hasher: PasswordHasher = _hasher,
        hashing_threads: int = HASHING_THREADS,
        shared: SharedState | None = None,
    ) -> None:
        self.ip_attempts_per_minute = ip_attempts_per_minute
        self.hasher = hasher
        self._hashing = anyio.CapacityLimiter(hashing_threads)
        self._shared: SharedState = shared or MemoryState()

    async def verify(self, password_hash: str, password: str) -> bool:
        """argon2 off the event loop, at most `hashing_threads` at once: sign-ins wait for each other, nothing else
        waits for them."""

        def check() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await anyio.to_thread.run_sync(check, limiter=self._hashing)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.hasher.hash, password, limiter=self._hashing)

    async def admit(self, ip: str, now: datetime) -> None:
        """Take one attempt of the IP address's allowance, or SignInRefused (429) with when the next one comes."""
        wait = await self._shared.take(f"sign-in:ip:{ip}", IP_ATTEMPTS_BURST, self.ip_attempts_per_minute / 60,
                                       now.timestamp())  # fmt: skip
        if wait > 0:
            message = f"too many sign-in attempts from your address: try again in {_wait(timedelta(seconds=wait))}"
            raise SignInRefused(message, _seconds(timedelta(seconds=wait)))

    async def give_back(self, ip: str) -> None:
        """A sign-in that succeeded costs its IP address nothing: a whole office behind one address can sign in."""
        await self._shared.give(f"sign-in:ip:{ip}", IP_ATTEMPTS_BURST)

    async def locked_for(self, address: str, ip: str, now: datetime) -> timedelta | None:
        """How long the pair is still locked, if it is."""
        until = await self._shared.get(f"{_pair(address, ip)}:until", now.timestamp())
        left = float(until) - now.timestamp() if until is not None else 0.0
        return timedelta(seconds=left) if left > 0 else None

    async def failed(self, address: str, ip: str, now: datetime) -> timedelta | None:
        """Count a wrong password of the pair; the lock it earns, if any."""
        failures = await self._shared.incr(f"{_pair(address, ip)}:failed", now.timestamp(), FAILURES_KEPT_SECONDS)
        delay = _lock_delay(failures)
        if delay:
            until = now + delay
            await self._shared.put(f"{_pair(address, ip)}:until", str(until.timestamp()), now.timestamp(),
                                   delay.total_seconds())  # fmt: skip
        return delay

    async def forgive(self, address: str, ip: str) -> None:
        await self._shared.delete(f"{_pair(address, ip)}:failed")
        await self._shared.delete(f"{_pair(address, ip)}:until")


def _pair(address: str, ip: str) -> str:
    """The shared state's key of an (address, IP) pair: a digest, so no email address is written to Redis."""
    return "sign-in:pair:" + hashlib.sha256(f"{address}\0{ip}".encode()).hexdigest()[:32]


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
    if problem := password_problem(password, address, name):
        raise UserError(problem)
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


async def set_password(session: AsyncSession, email: str, password: str) -> User:
    """A new password for a user (one who forgot it, say) and commit; their signed-in browsers are signed out and a
    lock from failed sign-ins no longer applies to the new password."""
    address = normalize_email(email)
    user = await session.scalar(select(User).where(User.email == address))
    if user is None:
        raise UserError(f"no user has the email {address}; `frontdesk users list` shows the team")
    if problem := password_problem(password, address, user.name):
        raise UserError(problem)
    user.password_hash = _hasher.hash(password)
    await session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    await session.commit()
    return user


def password_problem(password: str, email: str = "", name: str = "") -> str | None:
    """Why a password is too weak for the team's accounts, or None: too short, or too easy to guess by zxcvbn's
    estimate (common and breached passwords, words, names, dates, keyboard runs, repeats, the user's own email)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    from zxcvbn import zxcvbn  # its dictionaries take a moment to load: only when a password is set

    # zxcvbn reads at most 72 characters (its cost grows fast with the length); a longer passphrase is judged by those.
    user_inputs = [email, email.partition("@")[0], *name.split()]
    estimate = zxcvbn(password[:ZXCVBN_MAX_CHARS], user_inputs=[word for word in user_inputs if word])
    if estimate["score"] >= MIN_PASSWORD_SCORE:
        return None
    warning = estimate["feedback"].get("warning") or ""
    why = f": {warning}" if warning else "."
    return f"the password is too easy to guess{why} A few unrelated words make a strong one."


async def authenticate(
    session: AsyncSession, sign_ins: SignIns, email: str, password: str, ip: str, now: datetime
) -> User:
    """The user with this email and password, or SignInRefused: limits the attempts of the IP address, and counts
    failures of this address from this IP address, locking the pair a while after too many."""
    try:
        address = normalize_email(email)
    except UserError:
        address = email.strip().lower()
    await sign_ins.admit(ip, now)
    if left := await sign_ins.locked_for(address, ip, now):  # the password is not even checked: guessing must wait
        raise SignInRefused(_locked_message(left), _seconds(left))
    user = await session.scalar(select(User).where(User.email == address))
    # Give the connection back while argon2 runs (SQLite has one): other requests need it meanwhile.
    await session.commit()
    if not await sign_ins.verify(user.password_hash if user else _DUMMY_HASH, password) or user is None:
        delay = await sign_ins.failed(address, ip, now)
        if delay:
            raise SignInRefused(_locked_message(delay), _seconds(delay))
        raise SignInRefused(REFUSED)
    if not user.active:
        raise SignInRefused("this account is deactivated; ask an admin of the store")
    await sign_ins.forgive(address, ip)
    await sign_ins.give_back(ip)
    user.last_sign_in_at = now
    if sign_ins.hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await sign_ins.hash(password)
    await session.commit()
    return user


def _lock_delay(failures: int) -> timedelta | None:
    if failures < FREE_FAILURES:
        return None
    doublings = min(failures - FREE_FAILURES, 10)  # 30 s · 2**5 already passes the 15 minutes cap
    return min(FIRST_LOCK * 2**doublings, LONGEST_LOCK)


def _seconds(delay: timedelta) -> int:
    return max(1, math.ceil(delay.total_seconds()))


def _locked_message(delay: timedelta) -> str:
    return f"too many failed sign-ins: try again in {_wait(delay)}"


def _wait(delay: timedelta) -> str:
    seconds = _seconds(delay)
    return f"{seconds} seconds" if seconds < 120 else f"{-(-seconds // 60)} minutes"


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
