"""The task image carries runtime dependencies only: the batch command must not need the local extra."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

from bamboohr_moodle_sync.mapping import load_mapping

TASKS = Path(__file__).resolve().parents[2] / "tasks"

# Modules the image does not install: the local extra's and the dev tools'.
LOCAL_ONLY = ("moto", "yaml", "cfn_flip", "jsonata", "pytest", "responses", "bamboohr_moodle_sync.local")

BLOCKER = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith({LOCAL_ONLY!r}):
            raise ModuleNotFoundError("not in the image: " + name, name=name)
sys.meta_path.insert(0, Block())
"""


def run_without_local_extra(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_batch_command_imports_without_the_local_extra() -> None:
    result = run_without_local_extra(
        "import bamboohr_moodle_sync.wiring, bamboohr_moodle_sync.cli; print('ok')",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_batch_without_settings_exits_2_naming_what_is_missing() -> None:
    result = run_without_local_extra(
        "import sys; from bamboohr_moodle_sync.cli import main; sys.exit(main(['batch']))",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2, result.stderr
    assert "STATE_TABLE" in result.stderr
    assert "MOODLE_URL" in result.stderr


def test_local_commands_explain_how_to_install_the_local_extra() -> None:
    result = run_without_local_extra(
        "import sys; from bamboohr_moodle_sync.cli import main; sys.exit(main(['emulate']))"
    )
    assert result.returncode == 2
    assert "local extra" in result.stderr


def test_dockerignore_keeps_the_local_package_out_of_the_image() -> None:
    ignored = (TASKS / ".dockerignore").read_text(encoding="utf-8").split()
    assert "bamboohr_moodle_sync/local" in ignored
    dockerfile = (TASKS / "Dockerfile").read_text(encoding="utf-8")
    assert "USER 10001" in dockerfile
    assert "[local" not in dockerfile and "[dev" not in dockerfile


def test_the_image_carries_tasks_mapping_toml_as_its_mapping_file() -> None:
    dockerfile = (TASKS / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY mapping.toml /etc/bamboohr-moodle-sync/mapping.toml" in dockerfile
    assert "ENV MAPPING_FILE=/etc/bamboohr-moodle-sync/mapping.toml" in dockerfile
    ignored = (TASKS / ".dockerignore").read_text(encoding="utf-8").split()
    assert not any(fnmatch.fnmatch("mapping.toml", pattern) for pattern in ignored)


def test_the_shipped_mapping_is_the_default_one() -> None:
    assert load_mapping(TASKS / "mapping.toml") == load_mapping(None)


def test_every_example_in_the_shipped_mapping_loads_once_uncommented(tmp_path: Path) -> None:
    text = (TASKS / "mapping.toml").read_text(encoding="utf-8")
    examples = [line.removeprefix("# ") for line in text.splitlines() if re.match(r"# (\[|[a-z_]+ = )", line)]
    uncommented = tmp_path / "mapping.toml"
    uncommented.write_text("\n".join(examples) + "\n", encoding="utf-8")
    mapping = load_mapping(uncommented)
    assert mapping.cohorts and mapping.profile_fields and mapping.scope != load_mapping(None).scope
