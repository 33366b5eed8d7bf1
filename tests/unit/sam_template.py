"""Loads the SAM template and the state machine definition the way CloudFormation sees them.

`template.yaml` uses short-form intrinsics (`!Ref`, `!Sub`, `!GetAtt`), which plain YAML loaders reject;
cfn_flip's loader turns them into their long JSON form (`{"Ref": ...}`, `{"Fn::GetAtt": [...]}`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cfn_tools import load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
DEFINITION_PATH = ROOT / "statemachine" / "sync.asl.json"
STATE_MACHINE = "SyncStateMachine"

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def load_template() -> dict[str, Any]:
    """The template as plain dicts and lists, intrinsics in long form."""
    loaded: dict[str, Any] = json.loads(json.dumps(load_yaml(TEMPLATE_PATH.read_text())))
    return loaded


def definition_text() -> str:
    """The state machine definition exactly as deployed, placeholders unsubstituted."""
    return DEFINITION_PATH.read_text()


def placeholders(text: str) -> set[str]:
    """The names of the `${Name}` placeholders in a definition."""
    return set(_PLACEHOLDER.findall(text))


def substitute(text: str, values: dict[str, str]) -> str:
    """Replaces each `${Name}` as DefinitionSubstitutions does; a missing name raises KeyError."""
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
