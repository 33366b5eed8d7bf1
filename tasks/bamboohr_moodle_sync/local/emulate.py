"""``bamboohr-moodle-sync emulate``: both emulators on loopback until Ctrl-C or SIGTERM.

It prints the settings the batch task needs as shell lines, so a user can paste them and run
``bamboohr-moodle-sync batch`` against the emulators (with a local or moto-served STATE_TABLE).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import ExitStack

from .bamboohr_emulator import running_bamboohr
from .moodle_emulator import running_moodle


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="bamboohr-moodle-sync emulate", description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=50, help="generated BambooHR employees (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the employee generator")
    args = parser.parse_args(argv)
    if args.employees < 0:
        parser.error("--employees must be 0 or more")

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with ExitStack() as stack:
        bamboohr = stack.enter_context(running_bamboohr(employees=args.employees, seed=args.seed))
        moodle = stack.enter_context(running_moodle())
        exports = {
            "BAMBOOHR_API_URL": bamboohr.api_url,
            "BAMBOOHR_API_KEY": bamboohr.api_key,
            "MOODLE_URL": moodle.url,
            "MOODLE_TOKEN": moodle.token,
        }
        for name, value in exports.items():
            print(f"export {name}={shlex.quote(value)}")
        print(
            f"# BambooHR: {args.employees} employees. Paste the lines above, set STATE_TABLE, then run "
            "`bamboohr-moodle-sync batch`. Ctrl-C stops.",
            file=sys.stderr,
        )
        sys.stdout.flush()
        stop.wait()
    return 0
