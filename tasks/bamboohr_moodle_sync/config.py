"""The batch task's settings, read once at start-up.

Precedence: an explicit keyword argument to ``Settings(...)`` beats the environment, and the
environment beats the default. Names are the environment variables of docs/contract.md, matched
case-insensitively. Anything missing or malformed fails at once with a ``ConfigError`` that names every
offending variable, so one run tells the operator everything to fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .aws_errors import config_error
from .errors import ConfigError
from .models import utc_timestamp

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

DEFAULT_BAMBOOHR_API_ROOT = "https://api.bamboohr.com/api/gateway.php/{domain}"
PLACEHOLDER_SECRET = "REPLACE_ME"  # noqa: S105 - the template's placeholder, not a secret


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    since: str | None = None
    offset: int | None = Field(default=None, ge=0)
    batch_size: int = Field(default=200, ge=1, le=10_000)
    state_table: str = Field(min_length=1)

    bamboohr_secret_id: str | None = None
    bamboohr_api_key: SecretStr | None = None
    bamboohr_company_domain: str | None = None
    bamboohr_api_url: str | None = None

    moodle_url: str = Field(min_length=1)
    moodle_secret_id: str | None = None
    moodle_token: SecretStr | None = None
    moodle_auth: str = "manual"
    moodle_max_input_vars: int = Field(default=1000, ge=50)
    moodle_timeout_seconds: float = Field(default=60.0, gt=0, le=900)
    """Read timeout of one Moodle call. 60 s: a 110-user create takes 0.9 s, 33.5 s with a 0.25 s mail relay
    (shared reference), so it fits with room to spare; a slower relay costs one lost answer, looked up and
    never resent, after which later create calls are sized to half of it. Six attempts of a read that hangs
    stay within the batch's 15 minutes."""
    log_personal_data: bool = False

    max_suspensions: int = Field(default=50, ge=0)
    max_suspensions_percent: float = Field(default=5.0, ge=0, le=100)
    allow_mass_suspend: bool = False
    max_cohort_removals: int = Field(default=50, ge=0)
    """The cohort guard: most owned cohort memberships one window may remove (with cohort-sync's default
    "unenrol" action a removal unenrols the user)."""
    allow_cohort_removals: bool = False
    dry_run: bool = False
    initial_since: str = "1970-01-01T00:00:00Z"
    mapping_file: Path | None = None
    stack_name: str | None = None
    """The CloudFormation stack the task runs in: the guard's message names it in the ``approve`` command."""
    provision_days_before_start: int | None = Field(default=None, ge=0, le=3650)
    """An employee whose hireDate is more than this many days ahead gets no account yet (``eligibility``);
    unset: BambooHR's status alone decides when an account is made."""
    sync_timezone: str = "UTC"
    """The IANA time zone whose calendar day hire and termination dates are compared with."""
    sync_mode: Literal["incremental", "full"] = "incremental"
    """``full``: a full reconciliation (``full_window``) with its own watermark, snapshot and window items."""

    @field_validator("since", "initial_since")
    @classmethod
    def _utc_timestamp(cls, value: str | None) -> str | None:
        return None if value in (None, "") else utc_timestamp(value)

    @field_validator("offset", "provision_days_before_start", mode="before")
    @classmethod
    def _blank_offset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("sync_timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone name (UTC, Europe/London, ...)") from None
        return value

    @field_validator("moodle_url", "bamboohr_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value)
        local = parsed.hostname in ("localhost", "127.0.0.1", "::1")
        if parsed.scheme != "https" and not (parsed.scheme == "http" and local):
            raise ValueError("must start with https:// (http:// only for a service on this machine)")
        return value.rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _nothing_missing(cls, data: Any) -> Any:
        """Name every missing variable at once (pydantic would stop at the first kind of problem)."""
        if not isinstance(data, dict):
            return data
        present = {key.lower() for key, value in data.items() if value not in (None, "")}
        missing = [name.upper() for name in ("state_table", "moodle_url") if name not in present]
        for alternatives in (
            ("bamboohr_secret_id", "bamboohr_api_key"),
            ("moodle_secret_id", "moodle_token"),
            ("bamboohr_company_domain", "bamboohr_api_url"),
        ):
            if not present.intersection(alternatives):
                missing.append(" or ".join(name.upper() for name in alternatives))
        if missing:
            raise ValueError("missing " + ", ".join(missing))
        return data

    @property
    def bamboohr_api_root(self) -> str:
        if self.bamboohr_api_url:
            return self.bamboohr_api_url
        return DEFAULT_BAMBOOHR_API_ROOT.format(domain=self.bamboohr_company_domain)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` on top; every problem in one ``ConfigError``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            reason = error["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {'missing' if error['type'] == 'missing' else reason}" if name else reason)
        raise ConfigError("bad configuration: " + "; ".join(problems)) from None


def resolve_credentials(settings: Settings, secrets: SecretsManagerClient | None) -> tuple[str, str]:
    """The BambooHR API key and the Moodle token: given directly, or read from Secrets Manager."""
    api_key = _credential(
        settings.bamboohr_api_key, settings.bamboohr_secret_id, "api_key", "BAMBOOHR_SECRET_ID", secrets
    )
    token = _credential(settings.moodle_token, settings.moodle_secret_id, "token", "MOODLE_SECRET_ID", secrets)
    return api_key, token


def _credential(
    direct: SecretStr | None, secret_id: str | None, key: str, variable: str, secrets: SecretsManagerClient | None
) -> str:
    if direct is not None:
        return direct.get_secret_value()
    assert secret_id is not None and secrets is not None
    try:
        payload = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
        value = payload[key]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f'secret {variable}={secret_id} must hold JSON like {{"{key}": "..."}}') from exc
    except Exception as exc:  # botocore errors: no access, not found, no endpoint
        known = config_error(exc, f"secret {variable}={secret_id}", secrets.meta.region_name)
        raise known or ConfigError(f"cannot read secret {variable}={secret_id}: {type(exc).__name__}") from exc
    if not isinstance(value, str) or not value or value == PLACEHOLDER_SECRET:
        raise ConfigError(
            f"secret {variable}={secret_id} still holds no real {key}: "
            f'aws secretsmanager put-secret-value --secret-id {secret_id} --secret-string \'{{"{key}": "..."}}\''
        )
    return value
