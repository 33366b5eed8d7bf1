"""The state machine definition checked as AWS checks it: the pinned npm ``asl-validator`` on the deployed text.

``deployed_definition`` is ``statemachine/sync.asl.json`` with the template's DefinitionSubstitutions applied, as
the offline deploy (``stack.deploy``, into an in-process moto) creates it; ``validate`` runs asl-validator 4.x on
it, which knows the JSONata-mode schema and compiles every ``{% %}`` expression (moto accepts a missing ``Next``
target or a JSONata syntax error). ``python -m bamboohr_moodle_sync.local.aws.asl_validator`` is ``make validate``'s
step; ``make validate`` installs the validator with ``npm ci`` from tools/asl-validator/package-lock.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bamboohr_moodle_sync.local.aws import stack

REPO_ROOT = Path(__file__).resolve().parents[4]
TEMPLATE = REPO_ROOT / "template.yaml"
VALIDATOR = REPO_ROOT / "tools" / "asl-validator" / "node_modules" / ".bin" / "asl-validator"
# Required parameters without a Default; any well-formed value gives the same definition shape.
PARAMETERS = {"ImageUri": "local", "BambooHRCompanyDomain": "acme", "MoodleUrl": "https://moodle.example.com"}


class ValidatorMissing(RuntimeError):
    """asl-validator is not installed (``make validate`` installs it)."""


def deployed_definition(template: Path = TEMPLATE) -> str:
    """The definition text the offline deploy creates: one ASL file, its placeholders substituted."""
    import boto3
    from moto import mock_aws

    class InProcess:
        def client(self, service: str) -> Any:
            return boto3.client(service, region_name=stack.REGION)  # type: ignore[call-overload]

    with mock_aws():
        return stack.deploy(InProcess(), template, PARAMETERS).definition


def validate(definition: str, validator: Path = VALIDATOR) -> list[str]:
    """asl-validator's findings on ``definition`` (empty when it is valid)."""
    if not validator.exists():
        raise ValidatorMissing(f"{validator} is missing: run `make validate` (it installs asl-validator with npm ci)")
    with tempfile.NamedTemporaryFile("w", suffix=".asl.json", encoding="utf-8") as file:
        file.write(definition)
        file.flush()
        result = subprocess.run(  # noqa: S603 - the pinned validator on a file we wrote
            [str(validator), "--json-path", file.name], capture_output=True, text=True, check=False
        )
    if result.returncode == 0:
        return []
    text = (result.stdout + result.stderr).strip()
    return [line for line in text.splitlines() if line.strip()] or [f"asl-validator exited {result.returncode}"]


def main() -> int:
    definition = deployed_definition()
    json.loads(definition)  # a substitution that broke the JSON fails here, naming the position
    problems = validate(definition)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"asl-validator: {TEMPLATE.name}'s state machine is {'invalid' if problems else 'valid'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
