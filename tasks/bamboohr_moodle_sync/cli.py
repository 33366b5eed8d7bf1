"""The ``bamboohr-moodle-sync`` command.

batch       sync one batch (the task image's command); exit codes in docs/contract.md
emulate     run the BambooHR and Moodle emulators for trying the task by hand   (local extra)
local-run   run the whole pipeline offline: state machine, tasks, emulators      (local extra)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from .errors import AuthenticationFailed, ConfigError, MassSuspensionBlocked, SyncError
from .log import logger

EXIT_FAILED, EXIT_CONFIG, EXIT_GUARD = 1, 2, 3


def run_batch() -> int:
    """Sync one batch; on failure say on stderr what failed and what to fix, and leave the watermark alone."""
    try:
        from .wiring import build_batch

        result = build_batch().run()
    except (ConfigError, AuthenticationFailed) as exc:  # not worth a rerun: the settings or a secret must change
        return _fail(EXIT_CONFIG, str(exc))
    except MassSuspensionBlocked as exc:
        return _fail(EXIT_GUARD, str(exc))
    except SyncError as exc:
        return _fail(EXIT_FAILED, str(exc))
    except (ClientError, BotoCoreError) as exc:
        return _fail(EXIT_FAILED, f"AWS call failed: {exc}; check STATE_TABLE and the task role's permissions")
    except Exception as exc:  # a bug: the traceback goes to the log, one line to stderr
        logger.exception("unexpected error")
        return _fail(EXIT_FAILED, f"unexpected {type(exc).__name__}: {exc} (traceback in the log above)")
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
        entry = importlib.import_module(f"bamboohr_moodle_sync.local.{module}")
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
    commands.add_parser("batch", help="sync one batch of BambooHR changes into Moodle (settings from the environment)")
    commands.add_parser("emulate", help="run local BambooHR and Moodle emulators", add_help=False)
    commands.add_parser("local-run", help="run the whole pipeline offline", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "batch":
        if rest:
            parser.error(f"batch takes its settings from the environment, not arguments: {' '.join(rest)}")
        return run_batch()
    return _run_local("emulate" if args.command == "emulate" else "runner", rest)


if __name__ == "__main__":
    sys.exit(main())
