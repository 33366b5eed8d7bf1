"""A first load behind a slow mail relay, next to the same first load without one (issue 10).

On a real Moodle 4.5 a relay taking 0.6 s a mail makes a 110-user ``core_user_create_users`` call outlast a 60 s
read timeout (shared/reference/moodle.md). The benchmark keeps that ratio at a hundredth of the scale: the
emulator's ``Faults.mail_delay_s`` makes each created user cost ``mail_delay_ms``, and the task runs with
``MOODLE_TIMEOUT_SECONDS`` set so that a full create chunk outlasts it. Counted on the emulator: create calls,
``core_user_get_users`` calls (the case-insensitive e-mail lookup before creating), every request, the mails
sent and any user mailed twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench import harness
from bench.services import emulators


def measure(employees: int, batch_size: int, mail_delay_ms: float, timeout_s: float) -> dict[str, Any]:
    """Drain a first load twice on fresh emulators: without faults, then with the mail delay and the timeout."""
    runs = []
    for label, delay_ms, env in (
        ("normal", 0.0, {}),
        ("slow mail", mail_delay_ms, {"MOODLE_TIMEOUT_SECONDS": str(timeout_s)}),
    ):
        with emulators(employees) as services:
            services.moodle.server.faults.mail_delay_s = delay_ms / 1000
            drained = harness.drain_window(services, employees, batch_size, 0.0, env)
            moodle = services.moodle.emulator
            mailed = Counter(moodle.outbox)
            runs.append(
                {
                    "scenario": label,
                    "mail_delay_ms": delay_ms,
                    "timeout_s": timeout_s if env else 60.0,
                    "batches": drained.batches,
                    "create_calls": moodle.call_count("core_user_create_users"),
                    "get_users_calls": moodle.call_count("core_user_get_users"),
                    "moodle_requests": drained.moodle_requests,
                    "per_employee": round(drained.per_employee, 4),
                    "wall_s": round(drained.wall_s, 3),
                    "median_batch_s": drained.as_dict()["median_batch_s"],
                    "created": drained.counts.get("created", 0),
                    "failed": drained.counts.get("failed", 0),
                    "mailed": sum(mailed.values()),
                    "mailed_twice": sum(1 for count in mailed.values() if count > 1),
                }
            )
    return {"employees": employees, "batch_size": batch_size, "runs": runs}


def section(measured: dict[str, Any] | None) -> str:
    """BENCHMARKS.md's section: the two first loads side by side."""
    if not measured:
        return ""
    lines = [
        "## 1b. A first load behind a slow mail relay\n",
        f"{measured['employees']:,} employees, BATCH_SIZE {measured['batch_size']}, drained in-process as in "
        "section 1 (`bench/slow_mail.py`). The slow run keeps the real site's ratio at a hundredth of its scale: "
        "each created user costs the mail delay inside `core_user_create_users`, so a full create call (about 110 "
        "users) outlasts `MOODLE_TIMEOUT_SECONDS`, as 0.6 s a mail outlasts 60 s on a real Moodle.\n",
        "| scenario | mail (ms/user) | MOODLE_TIMEOUT_SECONDS | batches | create calls | create calls/batch | "
        "get_users calls | Moodle req. | req./emp. | drain (s) | median batch (s) | created | failed | mailed | "
        "mailed twice |",
        "|" + "---|" * 15,
    ]
    for run in measured["runs"]:
        per_batch = run["create_calls"] / run["batches"] if run["batches"] else 0
        lines.append(
            f"| {run['scenario']} | {run['mail_delay_ms']:g} | {run['timeout_s']:g} | {run['batches']} | "
            f"{run['create_calls']} | {per_batch:.2f} | {run['get_users_calls']} | {run['moodle_requests']:,} | "
            f"{run['per_employee']} | {run['wall_s']} | {run['median_batch_s']} | {run['created']:,} | "
            f"{run['failed']} | {run['mailed']:,} | {run['mailed_twice']} |"
        )
    lines.append(
        "\n**Why.** Each batch's first create call carries as many users as `max_input_vars` allows and outlasts "
        "the read timeout; the task does not send it again but looks its usernames up until the call commits (for "
        "up to four timeouts since it was sent), counts them created, and sizes the batch's later create calls to "
        "half the timeout from the seconds per user it saw. So a batch makes at most a few more create calls than "
        "without the relay, and the wall time is the mail time itself: nobody is created, mailed or reported failed "
        "twice. `get_users calls` is the case-insensitive e-mail lookup: one `%@domain` call per batch on a first "
        "load."
    )
    return "\n".join(lines) + "\n"
