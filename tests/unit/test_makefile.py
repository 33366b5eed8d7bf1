"""What the Makefile and samconfig.toml do for a new user, read from ``make -n`` and the TOML (nothing installed)."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def make(*arguments: str, venv: Path) -> str:
    """What ``make`` would run, for a virtualenv that does not exist yet."""
    run = subprocess.run(
        ["make", "--no-print-directory", f"VENV={venv}", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return run.stdout


def test_make_demo_installs_the_local_extra_only(tmp_path: Path) -> None:
    planned = make("-n", "demo", venv=tmp_path / "venv")
    assert "pip install --quiet -e 'tasks[local]'" in planned
    assert "dev]" not in planned


@pytest.mark.parametrize("target", ["test", "install"])
def test_development_targets_install_the_dev_extra_and_say_so(tmp_path: Path, target: str) -> None:
    planned = make("-n", target, venv=tmp_path / "venv")
    assert "pip install --quiet -e 'tasks[local,dev]'" in planned
    assert 'echo "Installing bamboohr-moodle-sync with the local and dev extras' in planned


def test_make_deploy_runs_the_sam_installed_in_the_virtualenv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    planned = make("-n", "deploy", venv=venv).splitlines()[-1]
    assert planned == f"{venv}/bin/sam build && {venv}/bin/sam deploy "


def test_the_project_s_sam_calls_send_no_telemetry(tmp_path: Path) -> None:
    printed = make("--eval", "print-telemetry: ; @echo $$SAM_CLI_TELEMETRY", "print-telemetry", venv=tmp_path)
    assert printed.strip() == "0"


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_a_first_deploy_of_either_samconfig_environment_leaves_both_schedules_disabled(environment: str) -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    overrides = config[environment]["deploy"]["parameters"]["parameter_overrides"]
    assert "ScheduleState=DISABLED" in overrides
    assert "ReconcileScheduleState=DISABLED" in overrides
