"""The agent's configuration: environment variables (``DUNNING_*``) over an optional
``dunning.toml`` (path from ``--config`` or ``DUNNING_CONFIG``) over the defaults.

Policy numbers nest under ``policy``: ``[policy]`` in the TOML file,
``DUNNING_POLICY__MIN_GAP_DAYS=7`` in the environment.
"""

from __future__ import annotations

import os
import ssl
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agent.policy_config import PolicyConfig

_toml_path: Path | None = None


class ConfigError(Exception):
    """A configuration value is wrong; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DUNNING_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: str = Field("sqlite:///dunning.db", description="SQLAlchemy URL of the ledger")
    checkpoint_db: str | None = Field(
        None, description="SQLite file of the LangGraph checkpoints (default: beside the ledger)"
    )
    smtp_host: str | None = Field(None, description="SMTP server; unset: the Maildir outbox")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "ssl"] = "starttls"
    smtp_ca_file: Path | None = Field(
        None,
        description="PEM file of CA certificates to trust for the SMTP server "
        "(default: the system's)",
    )
    smtp_timeout: float = Field(30.0, gt=0, description="seconds per SMTP operation")
    smtp_retries: int = Field(4, ge=1, description="attempts on a transient SMTP error")
    outbox_dir: Path = Field(Path("outbox"), description="Maildir written when no SMTP host")
    imap_host: str | None = Field(None, description="IMAP server; unset: the Maildir inbox")
    imap_port: int = Field(993, ge=1, le=65535)
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_oauth2_token: SecretStr | None = Field(
        None, description="XOAUTH2 access token, used instead of the password"
    )
    imap_tls: Literal["none", "starttls", "ssl"] = "ssl"
    imap_ca_file: Path | None = Field(
        None, description="PEM file of CA certificates to trust for the IMAP server"
    )
    imap_folder: str = Field("INBOX", description="the folder the customers' replies arrive in")
    imap_processed_folder: str | None = Field(
        None, description="move each handled message to this folder (unset: leave it)"
    )
    imap_timeout: float = Field(60.0, gt=0, description="seconds per IMAP operation")
    imap_poll_seconds: float = Field(60.0, gt=0, description="poll interval without IDLE")
    imap_batch: int = Field(200, ge=1, le=5000, description="messages fetched per request")
    inbox_dir: Path = Field(Path("inbox"), description="Maildir read when no IMAP host")
    max_message_bytes: int = Field(
        25_000_000, ge=10_000, description="a bigger incoming message is quarantined"
    )
    reply_token_secret: SecretStr | None = Field(
        None,
        description="key that signs the reply token in Reply-To "
        "(default: derived from the database URL)",
    )
    company_name: str = "Example Supplies Ltd"
    from_address: str = "ar@example.com"
    from_name: str | None = Field(None, description="display name of From (default: company)")
    reply_to: str | None = None
    payment_link_template: str = Field(
        "https://pay.example.com/invoice/{invoice_number}",
        description="link for invoices without one; {invoice_number}, {customer_id}",
    )
    default_timezone: str = "UTC"
    default_language: Literal["en", "de"] = "en"
    engine: Literal["offline"] = "offline"
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp)"
    )
    llm_model: str | None = Field(None, description="model name at that endpoint")
    llm_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("llm_api_key", "DUNNING_LLM_API_KEY", "OPENAI_API_KEY"),
        description="API key (DUNNING_LLM_API_KEY, else OPENAI_API_KEY)",
    )
    llm_timeout: float = Field(30.0, gt=0, description="seconds per model call")
    llm_concurrency: int = Field(16, ge=1, le=256, description="model calls at once in a pass")
    llm_max_tokens: int = Field(800, ge=16, description="longest answer asked of the model")
    llm_price_prompt_per_1k: Decimal = Field(
        Decimal(0), ge=0, description="price of 1,000 prompt tokens, for dunning log --stats"
    )
    llm_price_completion_per_1k: Decimal = Field(
        Decimal(0), ge=0, description="price of 1,000 completion tokens"
    )
    llm_response_format: Literal["auto", "json_schema", "json_object"] = Field(
        "auto", description="structured-output style of the endpoint (auto: detect)"
    )
    workers: int | None = Field(
        None, ge=1, le=64, description="processes sharing a big pass (default: one per core)"
    )
    daemon_pass_seconds: float = Field(
        300.0, gt=0, description="dunning daemon: seconds between chase passes"
    )
    daemon_http: str | None = Field(
        None, description="dunning daemon: HOST:PORT for /healthz and /metrics (off when unset)"
    )
    worker_id: str | None = Field(
        None, description="this daemon worker's name in leases (default: host and process id)"
    )
    prune_hours: float = Field(
        24.0, gt=0, description="dunning daemon: hours between prunings of finished chase threads"
    )
    lease_seconds: float = Field(
        300.0, gt=0, description="a dead worker's accounts go to others after this many seconds"
    )
    sent_folder: str | None = Field(
        None,
        description="IMAP folder where sent mail lands (e.g. Sent): a message found in "
        "'sending' after a crash is looked up there by its Message-ID",
    )
    sent_folder_append: bool = Field(
        False, description="the agent files a copy of each sent message in sent_folder itself"
    )
    approve_all: bool = Field(False, description="every message waits for a person's approval")
    approve_stages: list[str] = Field(
        default_factory=list, description="stages that wait for approval, e.g. final_notice"
    )
    approve_amount_over: Decimal | None = Field(
        None, ge=0, description="messages naming more than this open balance wait for approval"
    )
    approve_accounts: list[str] = Field(
        default_factory=list, description="accounts whose messages wait for approval"
    )
    reject_hold_days: int = Field(
        7, ge=1, description="days a rejected draft's account waits before it is decided again"
    )
    policy: PolicyConfig = Field(default_factory=PolicyConfig)

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("approve_stages")
    @classmethod
    def _known_stages(cls, value: list[str]) -> list[str]:
        from agent.snapshot import STAGES

        unknown = [stage for stage in value if stage not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage {unknown[0]!r}: one of {', '.join(STAGES)}")
        return value

    @field_validator("smtp_ca_file", "imap_ca_file")
    @classmethod
    def _readable_ca_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        if not value.exists():
            raise ValueError(f"CA file {value} does not exist")
        if not value.is_file():
            raise ValueError(f"CA file {value} is not a file")
        try:
            ssl.create_default_context(cafile=value)
        except OSError as exc:  # unreadable, or (ssl.SSLError) no PEM certificate in it
            raise ValueError(f"CA file {value} holds no usable PEM certificate: {exc}") from exc
        return value

    @field_validator("payment_link_template")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            value.format(invoice_number="X", customer_id="Y")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"only {{invoice_number}} and {{customer_id}} may appear, got {value!r}"
            ) from exc
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_toml_path))
        return tuple(sources)

    @property
    def sender_domain(self) -> str:
        return self.from_address.rpartition("@")[2] or "localhost"

    def shown(self) -> dict[str, Any]:
        """The effective configuration with secrets masked (``dunning config show``)."""
        data = self.model_dump(mode="json")
        secrets = (
            "smtp_password",
            "imap_password",
            "imap_oauth2_token",
            "reply_token_secret",
            "llm_api_key",
        )
        for secret in secrets:
            if getattr(self, secret) is not None:
                data[secret] = "********"
        data["database_url"] = _mask_url(self.database_url)
        return data


def _mask_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:********@{host}"


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment and the TOML file; a bad value raises ConfigError."""
    global _toml_path
    path = config_path or os.environ.get("DUNNING_CONFIG")
    _toml_path = Path(path) if path else None
    if _toml_path is not None and not _toml_path.is_file():
        raise ConfigError(f"config file {_toml_path} does not exist")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None
    except ValueError as exc:  # a TOML syntax error
        raise ConfigError(f"{_toml_path}: {exc}") from None
    finally:
        _toml_path = None


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        env = "DUNNING_" + "__".join(part.upper() for part in loc)
        lines.append(f"setting {'.'.join(loc)} ({env}): {error['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
