from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from bamboohr_moodle_sync import cli
from bamboohr_moodle_sync.config import Settings, load_settings, resolve_credentials
from bamboohr_moodle_sync.errors import ConfigError
from tests.aws import REGION

REQUIRED = {
    "STATE_TABLE": "state",
    "MOODLE_URL": "https://moodle.example.org/",
    "BAMBOOHR_COMPANY_DOMAIN": "acme",
    "BAMBOOHR_API_KEY": "bamboo-secret-key",
    "MOODLE_TOKEN": "moodle-secret-token",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [*REQUIRED, "SINCE", "OFFSET", "BAMBOOHR_API_URL", "BAMBOOHR_SECRET_ID", "MOODLE_SECRET_ID"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults_follow_the_contract(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.batch_size == 200
    assert settings.moodle_auth == "manual"
    assert settings.max_suspensions == 50
    assert not settings.allow_mass_suspend and not settings.dry_run
    assert settings.initial_since == "1970-01-01T00:00:00Z"
    assert settings.bamboohr_api_root == "https://api.bamboohr.com/api/gateway.php/acme"
    assert settings.moodle_url == "https://moodle.example.org"


def test_explicit_argument_beats_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("BATCH_SIZE", "50")
    assert load_settings().batch_size == 50
    assert load_settings(batch_size=75).batch_size == 75


@pytest.mark.parametrize(
    ("since", "normalised"),
    [
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("2026-01-01T02:00:00+02:00", "2026-01-01T00:00:00Z"),
        ("2025-12-31T19:00:00-05:00", "2026-01-01T00:00:00Z"),
    ],
)
def test_since_is_normalised_to_utc(env: pytest.MonkeyPatch, since: str, normalised: str) -> None:
    env.setenv("SINCE", since)
    env.setenv("OFFSET", "400")
    settings = load_settings()
    assert (settings.since, settings.offset) == (normalised, 400)


def test_every_missing_variable_is_named_in_one_error(env: pytest.MonkeyPatch) -> None:
    for name in REQUIRED:
        env.delenv(name)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    for name in ("STATE_TABLE", "MOODLE_URL"):
        assert name in message
    assert "BAMBOOHR_SECRET_ID" in message or "BAMBOOHR_API_KEY" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SINCE", "yesterday"),
        ("SINCE", "2026-01-01T00:00:00"),
        ("OFFSET", "-1"),
        ("BATCH_SIZE", "0"),
        ("MOODLE_URL", "moodle.org"),
        ("MOODLE_TIMEOUT_SECONDS", "0"),
        ("PROVISION_DAYS_BEFORE_START", "-1"),
        ("PROVISION_DAYS_BEFORE_START", "a week"),
        ("SYNC_TIMEZONE", "Europe/Atlantis"),
        ("SYNC_TIMEZONE", "../../etc/passwd"),
    ],
)
def test_malformed_values_are_refused_with_their_name(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_secret_values_never_appear_in_settings_repr(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert "bamboo-secret-key" not in repr(settings)
    assert "moodle-secret-token" not in repr(settings)


@pytest.fixture
def secrets(env: pytest.MonkeyPatch) -> Iterator[object]:
    env.setenv("AWS_DEFAULT_REGION", REGION)
    env.delenv("BAMBOOHR_API_KEY")
    env.delenv("MOODLE_TOKEN")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def test_credentials_are_read_from_secrets_manager(env: pytest.MonkeyPatch, secrets: object) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(Name="bamboo", SecretString=json.dumps({"api_key": "k1"}))
    client.create_secret(Name="moodle", SecretString=json.dumps({"token": "t1"}))
    env.setenv("BAMBOOHR_SECRET_ID", "bamboo")
    env.setenv("MOODLE_SECRET_ID", "moodle")
    assert resolve_credentials(load_settings(), client) == ("k1", "t1")


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ({"api_key": "REPLACE_ME"}, "put-secret-value"),
        ({"key": "k1"}, 'must hold JSON like {"api_key"'),
    ],
)
def test_placeholder_or_malformed_secret_names_the_secret_to_fix(
    env: pytest.MonkeyPatch, secrets: object, secret: dict[str, str], message: str
) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(Name="bamboo", SecretString=json.dumps(secret))
    client.create_secret(Name="moodle", SecretString=json.dumps({"token": "t1"}))
    env.setenv("BAMBOOHR_SECRET_ID", "bamboo")
    env.setenv("MOODLE_SECRET_ID", "moodle")
    with pytest.raises(ConfigError, match=message) as error:
        resolve_credentials(load_settings(), client)
    assert "BAMBOOHR_SECRET_ID=bamboo" in str(error.value)


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("MOODLE_URL", "http://moodle.example.org", False),
        ("MOODLE_URL", "http://127.0.0.1:8080", True),
        ("BAMBOOHR_API_URL", "http://api.bamboohr.com/api/gateway.php/acme", False),
        ("BAMBOOHR_API_URL", "http://localhost:9000/api/gateway.php/acme", True),
    ],
)
def test_plain_http_is_only_for_services_on_this_machine(
    env: pytest.MonkeyPatch, name: str, value: str, accepted: bool
) -> None:
    env.setenv(name, value)
    if accepted:
        load_settings()
    else:
        with pytest.raises(ConfigError, match=name):
            load_settings()


def test_a_secret_the_task_role_may_not_read_names_the_secret_and_keeps_awss_message(
    env: pytest.MonkeyPatch, secrets: object
) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    denied = (
        "User: arn:aws:sts::123456789012:assumed-role/sync-TaskRole/abc is not authorized to perform: "
        "secretsmanager:GetSecretValue on resource: bamboo because no identity-based policy allows it"
    )
    env.setenv("BAMBOOHR_SECRET_ID", "bamboo")
    env.setenv("MOODLE_SECRET_ID", "moodle")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "AccessDeniedException", denied, 400)
        with pytest.raises(ConfigError) as error:
            resolve_credentials(load_settings(), client)
    assert str(error.value).startswith(f"secret BAMBOOHR_SECRET_ID=bamboo: access denied ({denied})")


def test_a_missing_secret_names_it(env: pytest.MonkeyPatch, secrets: object) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    env.setenv("BAMBOOHR_SECRET_ID", "nowhere")
    env.setenv("MOODLE_SECRET_ID", "moodle")
    with pytest.raises(ConfigError, match=f"secret BAMBOOHR_SECRET_ID=nowhere does not exist in region {REGION}"):
        resolve_credentials(load_settings(), client)


def test_moodle_timeout_defaults_to_60_seconds_and_log_personal_data_to_off(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.moodle_timeout_seconds, settings.log_personal_data) == (60.0, False)


def test_dates_are_judged_in_utc_and_status_alone_decides_by_default(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.sync_timezone, settings.provision_days_before_start) == ("UTC", None)


def test_an_iana_time_zone_and_provision_days_are_read(env: pytest.MonkeyPatch) -> None:
    env.setenv("SYNC_TIMEZONE", "Australia/Adelaide")
    env.setenv("PROVISION_DAYS_BEFORE_START", "7")
    settings = load_settings()
    assert (settings.sync_timezone, settings.provision_days_before_start) == ("Australia/Adelaide", 7)


def test_a_bad_time_zone_says_what_a_good_one_looks_like(env: pytest.MonkeyPatch) -> None:
    env.setenv("SYNC_TIMEZONE", "CEST+2")
    with pytest.raises(ConfigError, match=r"SYNC_TIMEZONE: 'CEST\+2' is not an IANA time zone name"):
        load_settings()


def test_batch_help_describes_every_setting_on_its_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["batch", "--help"])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for name in Settings.model_fields:
        [line] = [line for line in lines if line.split()[:1] == [name.upper()]]
        description = line.split(None, 1)[1:]
        assert description and not description[0].startswith("[default"), f"{name.upper()} has no description"
