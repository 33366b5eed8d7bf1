"""Builds a ``Batch`` from the settings: the only place that knows which concrete clients exist."""

from __future__ import annotations

import os

import boto3

from .aws_errors import REGION_HINT
from .bamboohr import BambooHRClient
from .batch import Batch
from .config import load_settings, resolve_credentials
from .errors import ConfigError
from .http import DEFAULT_POLICY
from .log import route_module_loggers
from .mapping import load_mapping
from .moodle import MoodleClient
from .state import FULL_PREFIX, StateStore


def build_batch(**overrides: str) -> Batch:
    """The batch of the environment's settings, with ``overrides`` on top (an operator's ``--stack``)."""
    route_module_loggers()
    settings = load_settings(**overrides)
    mapping = load_mapping(settings.mapping_file)
    # AWS_REGION (set on Fargate) wins; otherwise boto3's own chain (AWS_DEFAULT_REGION, config files).
    aws = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
    if aws.region_name is None:
        raise ConfigError(REGION_HINT)
    needs_secrets = settings.bamboohr_api_key is None or settings.moodle_token is None
    api_key, token = resolve_credentials(settings, aws.client("secretsmanager") if needs_secrets else None)
    bamboohr = BambooHRClient(
        settings.bamboohr_api_root,
        api_key,
        credential_hint=_hint(
            "BambooHR API key", "BAMBOOHR_SECRET_ID", settings.bamboohr_secret_id, "BAMBOOHR_API_KEY"
        ),
    )
    moodle = MoodleClient(
        settings.moodle_url,
        token,
        max_input_vars=settings.moodle_max_input_vars,
        timeout=(DEFAULT_POLICY.connect_timeout, settings.moodle_timeout_seconds),
        credential_hint=_hint("Moodle token", "MOODLE_SECRET_ID", settings.moodle_secret_id, "MOODLE_TOKEN"),
    )
    prefix = FULL_PREFIX if settings.sync_mode == "full" else ""
    store = StateStore(aws.client("dynamodb"), settings.state_table, prefix=prefix)
    return Batch(settings, bamboohr, moodle, store, mapping)


def _hint(what: str, secret_variable: str, secret_id: str | None, direct_variable: str) -> str:
    if secret_id:
        return f"the {what} in secret {secret_id} ({secret_variable})"
    return f"the {what} in {direct_variable}"
