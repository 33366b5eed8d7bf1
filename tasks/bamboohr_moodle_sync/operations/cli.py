"""The operator's subcommands: argument parsing, output (text, ``--json``, ``--csv``) and exit codes.

Exit codes: 0 shown or done (without ``--yes``: shown what it would do), 1 refused or failed (a live lock, a
running execution, a changed window, nothing to approve, Moodle refused the employee), 2 configuration (no
STATE_TABLE, no stack, credentials, a denied call).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import AuthenticationFailed, ConfigError, SyncError
from ..preview import preview_window
from ..state import NO_WATERMARK, Watermark
from .changes import Outcome, approve, reset, unlock
from .render import preview_text, write_csv
from .status import status, status_text
from .sync_one import sync_one
from .target import Target, connect

EXIT_REFUSED, EXIT_CONFIG = 1, 2
COMMANDS = {
    "status": "the watermark, the window, the lock, the counters, the retry list (and executions with --stack)",
    "preview": "what the next run would do to every employee of the window, writing nothing",
    "approve": "let the window a guard stopped through, bound to that window",
    "reset": "start a new window at --since (offset 0); refused while a live lock is held",
    "unlock": "clear a lock whose execution is not running (--stack) or that has expired",
    "sync-one": "sync one employee now, outside any window",
}


def build_parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"bamboohr-moodle-sync {command}", description=COMMANDS[command])
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="a deployed stack (its outputs, your AWS credentials); "
        "default: the settings in the environment, e.g. the ones `emulate` prints",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout, for scripts")
    if command == "preview":
        parser.add_argument(
            "--full",
            action="store_true",
            help="the window a full reconciliation would freeze now: every employee, and every managed account "
            "whose employee BambooHR no longer has",
        )
        parser.add_argument("--csv", type=Path, metavar="FILE", help="also write one row per employee and change")
    if command == "approve":
        parser.add_argument("--full", action="store_true", help="the full reconciliation's window, not the incremental")
    if command in ("approve", "reset", "unlock"):
        parser.add_argument("--yes", action="store_true", help="do it (without: show what it would do)")
    if command == "reset":
        parser.add_argument(
            "--since", required=True, metavar="T", help="ISO-8601 with offset, e.g. 2026-03-01T00:00:00Z"
        )
    if command == "sync-one":
        parser.add_argument("employee_id", metavar="EMPLOYEE_ID")
        parser.add_argument("--dry-run", action="store_true", help="show what it would do, write nothing")
    return parser


def main(command: str, argv: Sequence[str]) -> int:
    args = build_parser(command).parse_args(list(argv))
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the clients' log lines stay off the command's output
            target = connect(args.stack)
            result = _run(command, args, target)
    except (ConfigError, AuthenticationFailed) as exc:
        return _fail(command, EXIT_CONFIG, str(exc))
    except SyncError as exc:
        return _fail(command, EXIT_REFUSED, str(exc))
    except (ClientError, BotoCoreError) as exc:
        return _fail(command, EXIT_REFUSED, f"AWS call failed: {exc}")
    if isinstance(result, Outcome):
        print(json.dumps(result.as_dict(), indent=1) if args.json else result.message)
        return EXIT_REFUSED if result.refused else 0
    text, data = result
    print(json.dumps(data, indent=1, default=str) if args.json else text)
    return 0


def _run(command: str, args: argparse.Namespace, target: Target) -> Outcome | tuple[str, dict[str, Any]]:
    if command == "status":
        data = status(target)
        return status_text(data), data
    if command == "preview":
        batch = target.batch()
        start = target.store.read_watermark() or Watermark(batch.settings.initial_since, 0, NO_WATERMARK)
        preview = preview_window(batch, start, full=args.full)
        if args.csv:
            write_csv(preview, args.csv)
        return preview_text(preview), preview.as_dict()
    if command == "approve":
        return approve(target, args.yes, full=args.full)
    if command == "reset":
        return reset(target, args.since, args.yes)
    if command == "unlock":
        return unlock(target, args.yes)
    return sync_one(target, args.employee_id, args.dry_run)


def _fail(command: str, code: int, message: str) -> int:
    print(f"bamboohr-moodle-sync {command} failed: {message}", file=sys.stderr)
    return code
