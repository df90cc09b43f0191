"""Settings: a TOML file (``--config`` or ``LOADBAY_CONFIG``) overridden by environment
variables ``LOADBAY_<SECTION>__<KEY>``. Every default runs on one machine with nothing
else installed. Built by the entry points, never at import time.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

STORE_NAMES = ("incoming", "permanent", "quarantine", "results", "exports", "work")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str = ""


class DatabaseSettings(_Section):
    url: str = ""


class TargetSettings(_Section):
    url: str = ""


class LimitsSettings(_Section):
    max_upload_bytes: int = Field(default=1024**3, ge=1)
    link_ttl_seconds: int = Field(default=86_400, ge=1)
    link_ttl_max_seconds: int = Field(default=604_800, ge=1)
    max_field_chars: int = Field(default=131_072, ge=1)
    max_columns: int = Field(default=1_000, ge=1)


class DatasetsSettings(_Section):
    dir: str = ""


class SecuritySettings(_Section):
    # One key, or a list: the first signs and encrypts, all are accepted, so a key
    # can be rotated by putting the new one first.
    secret_key: str | list[str] = ""


class ScannerSettings(_Section):
    backend: str = "none"
    url: str = ""
    required: bool = True  # fail closed: never let a file through unscanned
    timeout_seconds: float = Field(default=60, gt=0)  # one scan's socket timeout
    unavailable_timeout_seconds: float = Field(default=600, ge=0)  # then scan_unavailable
    retry_max_delay_seconds: float = Field(default=30, gt=0)
    allow_too_large: bool = False  # let files the scanner will not take through unscanned


class StoreSettings(BaseModel):
    """``url`` plus provider options (endpoint, region, credentials...)."""

    model_config = ConfigDict(extra="allow")
    url: str = ""
    # A store under another name than the six roles, kept only so that references
    # to its objects (e.g. old result files) still resolve after a switch.
    retired: bool = False


DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
WHOLE_FILE = 1 << 62  # a chunk size no file reaches


class ExecutorSettings(_Section):
    backend: str = "inprocess"
    broker_url: str = ""
    queue: str = "loadbay"  # the broker queue jobs go through (Celery)
    # Celery's broker_transport_options, e.g. for SQS: region, visibility_timeout,
    # wait_time_seconds, queue_name_prefix, predefined_queues. A visibility timeout
    # defaults to longer than lease_seconds (see executors/celery_broker.py).
    broker_options: dict[str, Any] = Field(default_factory=dict)
    concurrency: int = Field(default=2, ge=1, le=64)
    batch_rows: int = Field(default=20_000, ge=1)
    # A file larger than this is cut into chunks that workers import in parallel.
    # Unset: 32 MiB, but a file is one chunk with a SQLite target (see chunk_size).
    chunk_bytes: int | None = Field(default=None, ge=1024)
    # A running step's lease: renewed every third of it; a worker silent for longer is
    # taken for dead and its step runs again elsewhere.
    lease_seconds: float = Field(default=60, gt=0)
    max_attempts: int = Field(default=3, ge=1)  # then the step is dead and the job fails
    retry_delay_seconds: float = Field(default=5, ge=0)  # after a failed attempt, doubling
    # A step sent but not started within this long is sent again (a lost message).
    redeliver_after_seconds: float = Field(default=300, gt=0)
    sweep_interval_seconds: float = Field(default=5, gt=0)  # how often that is checked

    def chunk_size(self, sqlite_target: bool) -> int:
        """``chunk_bytes``, or when unset 32 MiB; with a SQLite target, one chunk per file:
        SQLite takes one writer at a time, so chunks' decide steps only queue on its
        lock (make bench, 1M rows: one chunk 6.6 s, three 6.9-7.5 s and 25 MiB more)."""
        if self.chunk_bytes is not None:
            return self.chunk_bytes
        return WHOLE_FILE if sqlite_target else DEFAULT_CHUNK_BYTES


class ExportsSettings(_Section):
    ttl_hours: float = Field(default=72, gt=0)  # from completion until the file is deleted
    sweep_interval_seconds: float = Field(default=300, gt=0)  # how often expiry is checked
    batch_rows: int = Field(default=10_000, ge=1)  # rows read and written at a time


class TokenSettings(_Section):
    token: str = Field(min_length=8)
    user: str = Field(min_length=1)
    tenant: str = ""
    roles: list[str] = Field(default_factory=lambda: ["user"])
    email: str = ""  # where this user's job notifications go, when SMTP is configured


class WebhookSettings(_Section):
    url: str
    secret: str = Field(min_length=8)  # signs every delivery (X-Loadbay-Signature)
    users: list[str] = Field(default_factory=list)  # whose jobs; empty: everyone's


class SmtpSettings(_Section):
    host: str = ""  # empty: no email
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = "loadbay@localhost"
    username: str = ""
    password: str = ""
    security: Literal["none", "starttls", "ssl"] = "none"


class AdminChannels(_Section):
    """Where alerts go: a quarantined file, a failed job, an unreachable scanner."""

    emails: list[str] = Field(default_factory=list)
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    slack_webhook_url: str = ""


class NotificationSettings(_Section):
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    admin: AdminChannels = Field(default_factory=AdminChannels)
    attempts: int = Field(default=5, ge=1, le=20)
    first_retry_delay_seconds: float = Field(default=1.0, ge=0)
    max_retry_delay_seconds: float = Field(default=60.0, ge=0)


class UploadSettings(_Section):
    ttl_seconds: int = Field(default=3600, ge=60)  # a direct upload not completed by then
    # is expired and its object deleted


class EventRule(_Section):
    """Which objects a bucket event imports, into which dataset, owned by whom."""

    bucket: str = ""  # any bucket when empty
    prefix: str = ""
    suffix: str = ".csv"
    dataset: str
    owner: str
    tenant: str = ""


class EventSettings(_Section):
    rules: list[EventRule] = Field(default_factory=list)
    # SQS queue for `loadbay events` (S3 event notifications), with provider options
    sqs_queue_url: str = ""
    sqs_endpoint: str = ""
    sqs_region: str = "us-east-1"
    sqs_access_key_id: str = ""
    sqs_secret_access_key: str = ""
    wait_seconds: int = Field(default=20, ge=0, le=20)  # long polling


class MetricsSettings(_Section):
    # `loadbay worker` serves its own Prometheus metrics on this port; 0: it does not.
    worker_port: int = Field(default=0, ge=0, le=65535)
    worker_host: str = "0.0.0.0"  # the address it listens on


class LoggingSettings(_Section):
    format: Literal["text", "json"] = "text"  # json: one object per line
    level: str = "INFO"

    @field_validator("level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        named = level.upper()
        if named not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return named


class AuthSettings(_Section):
    tokens: list[TokenSettings] = Field(default_factory=list)


class Settings(BaseSettings):
    """All of loadbay's settings; see the Configuration section of the API contract."""

    model_config = SettingsConfigDict(
        env_prefix="LOADBAY_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path("./.loadbay")
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    target: TargetSettings = Field(default_factory=TargetSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    datasets: DatasetsSettings = Field(default_factory=DatasetsSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    scanner: ScannerSettings = Field(default_factory=ScannerSettings)
    stores: dict[str, StoreSettings] = Field(default_factory=dict)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    exports: ExportsSettings = Field(default_factory=ExportsSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @field_validator("stores")
    @classmethod
    def _known_stores(cls, stores: dict[str, StoreSettings]) -> dict[str, StoreSettings]:
        unknown = {n for n, s in stores.items() if n not in STORE_NAMES and not s.retired}
        if unknown:
            raise ValueError(
                f"unknown stores {sorted(unknown)}; known: {', '.join(STORE_NAMES)} "
                "(a store kept only for old references needs retired = true)"
            )
        return stores

    @property
    def store_names(self) -> list[str]:
        """The six roles, then the retired stores."""
        return [*STORE_NAMES, *(n for n in self.stores if n not in STORE_NAMES)]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init values; the environment overrides it.
        return (env_settings, init_settings)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir.resolve() / 'loadbay.sqlite'}"

    @property
    def target_url(self) -> str:
        return self.target.url or f"sqlite:///{self.data_dir.resolve() / 'target.sqlite'}"

    @property
    def public_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"

    def store_url(self, name: str) -> str:
        configured = self.stores.get(name)
        if configured and configured.url:
            return configured.url
        return (self.data_dir.resolve() / "stores" / name).as_uri()

    def store_options(self, name: str) -> dict[str, Any]:
        configured = self.stores.get(name)
        return dict(configured.model_extra or {}) if configured else {}


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the TOML file (if any), the environment, then ``overrides``."""
    path = config_path or os.environ.get("LOADBAY_CONFIG") or None
    values: dict[str, Any] = {}
    if path:
        with Path(path).open("rb") as handle:
            values = tomllib.load(handle)
    settings = Settings(**values)
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.partition("__")
        if key:
            updated = getattr(settings, section).model_copy(update={key: value})
            settings = settings.model_copy(update={section: updated})
        else:
            settings = settings.model_copy(update={section: value})
    return settings
