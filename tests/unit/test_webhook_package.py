"""The webhook receiver's Lambda package, as `sam build` makes it (tasks/Makefile): its module alone, importable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.unit.sam_template import ROOT, load_template


def test_sam_builds_the_webhook_function_with_its_makefile() -> None:
    function = load_template()["Resources"]["WebhookFunction"]
    assert function["Metadata"]["BuildMethod"] == "makefile"
    assert (ROOT / function["Properties"]["CodeUri"] / "Makefile").is_file()


def test_the_package_holds_the_handler_alone_and_it_imports_on_its_own(tmp_path: Path) -> None:
    built = subprocess.run(
        ["make", "-C", str(ROOT / "tasks"), "build-WebhookFunction", f"ARTIFACTS_DIR={tmp_path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["bamboohr_moodle_sync/__init__.py", "bamboohr_moodle_sync/webhook.py"]
    # The package directory is the artifact's only: an import of any other module of ours would fail here.
    probe = "import bamboohr_moodle_sync.webhook as w, sys; assert callable(w.handler); print(w.__file__)"
    imported = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {probe}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == str(tmp_path / "bamboohr_moodle_sync" / "webhook.py")
