"""The ``bamboohr-moodle-sync`` command.

batch       sync one batch (the task image's command); exit codes in docs/contract.md
status      the watermark, the window, the lock, the counters, the retry list    (--stack NAME or the environment)
preview     what the next run would do to every employee, writing nothing
approve     let the window the suspension guard stopped through, bound to that window
reset       start a new window at --since; unlock: clear a lock nobody runs under
sync-one    sync one employee now, outside any window
emulate     run the BambooHR and Moodle emulators for trying the task by hand   (local extra)
local-run   run the whole pipeline offline: state machine, tasks, emulators      (local extra)
world       change the emulators' world by hand while emulate runs              (local extra)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from .errors import AuthenticationFailed, CohortRemovalsBlocked, ConfigError, MassSuspensionBlocked, SyncError
from .log import logger

EXIT_FAILED, EXIT_CONFIG, EXIT_GUARD = 1, 2, 3
LOCAL_COMMANDS = {"emulate": "emulate", "local-run": "runner", "world": "world"}  # command -> module in local/pipeline/


BATCH_VARIABLES = {
    "SINCE": "where this batch starts (the state machine passes it); default: the watermark",
    "OFFSET": "entries of the window already synced (passed with SINCE); default: the watermark",
    "BATCH_SIZE": "change-list entries per task",
    "STATE_TABLE": "the DynamoDB state table (partition key pk)",
    "BAMBOOHR_SECRET_ID": 'secret holding {"api_key": ...}; or give BAMBOOHR_API_KEY',
    "BAMBOOHR_API_KEY": "the BambooHR API key itself",
    "BAMBOOHR_COMPANY_DOMAIN": "the BambooHR company; or give BAMBOOHR_API_URL",
    "BAMBOOHR_API_URL": "the API root, https://api.bamboohr.com/api/gateway.php/<company>",
    "MOODLE_URL": "the Moodle site root",
    "MOODLE_SECRET_ID": 'secret holding {"token": ...}; or give MOODLE_TOKEN',
    "MOODLE_TOKEN": "the Moodle web-service token itself",
    "MOODLE_AUTH": "auth of new accounts (manual gets createpassword=1)",
    "MOODLE_MAX_INPUT_VARS": "the site's PHP max_input_vars; writes are chunked under it",
    "MOODLE_TIMEOUT_SECONDS": "read timeout of one Moodle call; create calls are sized to half of it",
    "LOG_PERSONAL_DATA": "1: failure lines also show the value behind the reason (an e-mail address)",
    "MAX_SUSPENSIONS": "the suspension guard: most active accounts one window may suspend ...",
    "MAX_SUSPENSIONS_PERCENT": "... or this percentage of the active accounts the sync manages, if more",
    "ALLOW_MASS_SUSPEND": "1: lift the suspension guard for this run",
    "MAX_COHORT_REMOVALS": "the cohort guard: most owned cohort memberships one window may remove",
    "ALLOW_COHORT_REMOVALS": "1: lift the cohort guard for this run",
    "DRY_RUN": "1: plan and log, write nothing",
    "INITIAL_SINCE": "where the first window starts",
    "MAPPING_FILE": "a TOML file overriding the field mapping",
    "STACK_NAME": "the stack the task runs in (the guard's message names it)",
    "PROVISION_DAYS_BEFORE_START": "a future hire gets an account this many days before hireDate; unset: status",
    "SYNC_TIMEZONE": "IANA time zone whose calendar day hire and termination dates are compared with",
    "SYNC_MODE": "full: a full reconciliation of everyone, on its own watermark",
}
"""What ``batch --help`` says about each setting; names and defaults come from ``config.Settings``."""


def batch_epilog() -> str:
    from .config import Settings

    lines = ["environment variables (required unless a default is shown):"]
    width = max(len(name) for name in Settings.model_fields) + 2
    for name, spec in Settings.model_fields.items():
        variable = name.upper()
        shown = ("on" if spec.default else "off") if isinstance(spec.default, bool) else spec.default
        default = "" if spec.is_required() or spec.default is None else f" [default: {shown}]"
        lines.append(f"  {variable:<{width}}{BATCH_VARIABLES[variable]}{default}")
    lines.append("exit codes: 0 committed or nothing to do, 1 failed (rerun), 2 configuration, 3 guard")
    return "\n".join(lines)


def run_batch() -> int:
    """Sync one batch; on failure say on stderr what failed and what to fix, and leave the watermark alone."""
    try:
        from .wiring import build_batch

        result = build_batch().run()
    except (ConfigError, AuthenticationFailed) as exc:  # not worth a rerun: the settings or a secret must change
        return _fail(EXIT_CONFIG, str(exc))
    except (MassSuspensionBlocked, CohortRemovalsBlocked) as exc:
        return _fail(EXIT_GUARD, str(exc))
    except SyncError as exc:
        return _fail(EXIT_FAILED, str(exc))
    except (ClientError, BotoCoreError) as exc:
        return _fail(EXIT_FAILED, f"AWS call failed: {exc}; check STATE_TABLE and the task role's permissions")
    except Exception as exc:  # a bug: the traceback goes to the log, one line to stderr
        logger.exception("unexpected error")
        return _fail(EXIT_FAILED, f"unexpected {type(exc).__name__}: {exc} (traceback in the log above)")
    if result.outcome == "stale" and result.start != result.end:
        print(
            f"batch stale: asked for SINCE={result.start.since} OFFSET={result.start.offset}, but the watermark is at "
            f"since {result.end.since} offset {result.end.offset}; nothing was done (a late duplicate task is "
            "harmless). To move the watermark, use `bamboohr-moodle-sync reset --since T`",
            file=sys.stderr,
        )
        return 0
    if result.outcome == "empty":
        print(f"batch empty: nothing changed since {result.start.since}", file=sys.stderr)
        return 0
    print(
        f"batch {result.outcome}: {result.start.since} offset {result.start.offset} -> "
        f"{result.end.since} offset {result.end.offset} {result.counts or ''}".rstrip(),
        file=sys.stderr,
    )
    return 0


def _fail(code: int, message: str) -> int:
    print(f"bamboohr-moodle-sync batch failed: {message}", file=sys.stderr)
    return code


def _run_local(module: str, argv: Sequence[str]) -> int:
    try:
        entry = importlib.import_module(f"bamboohr_moodle_sync.local.pipeline.{module}")
    except ModuleNotFoundError as exc:
        print(
            f"this command needs the local extra ({exc.name} is missing): pip install -e 'tasks[local]'",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    result: int = entry.main(list(argv))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bamboohr-moodle-sync", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "batch",
        help="sync one batch of BambooHR changes into Moodle (settings from the environment)",
        description="Sync one batch of BambooHR changes into Moodle; every setting comes from the environment.",
        epilog=batch_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .operations.cli import COMMANDS as OPERATOR_COMMANDS

    for name, summary in OPERATOR_COMMANDS.items():
        commands.add_parser(name, help=summary, add_help=False)
    commands.add_parser("emulate", help="run local BambooHR and Moodle emulators", add_help=False)
    commands.add_parser("local-run", help="run the whole pipeline offline", add_help=False)
    commands.add_parser("world", help="hire, edit, terminate, rehire employees while emulate runs", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "batch":
        if rest:
            parser.error(f"batch takes its settings from the environment, not arguments: {' '.join(rest)}")
        return run_batch()
    if args.command in OPERATOR_COMMANDS:
        from .operations.cli import main as operate

        return operate(args.command, rest)
    try:
        return _run_local(LOCAL_COMMANDS[args.command], rest)
    except KeyboardInterrupt:  # Ctrl-C while the local stand-ins load: one line, no traceback
        print(f"\nbamboohr-moodle-sync {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
