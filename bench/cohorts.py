"""A first load with two cohort rules and two custom profile fields (issue 11), by BATCH_SIZE.

The demo's mapping (department and location cohorts, job title and hire date) on a fresh BambooHR and an empty
Moodle, drained in-process as in section 1; requests are counted on each emulator and, for Moodle, per function,
so the report can say how the cohort calls scale. ``python -m bench.cohorts`` measures this section alone and
merges it into ``bench/results/results.json`` (then ``python -m bench.run --render`` rewrites the report).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bamboohr_moodle_sync.local.pipeline.offline import DEMO_MAPPING as MAPPING  # two profile fields, two rules
from bench import harness
from bench.services import emulators

TARGET = 0.05  # round trips per employee, issue 11
COHORT_FUNCTIONS = (
    "core_webservice_get_site_info",
    "core_cohort_get_cohorts",
    "core_cohort_get_cohort_members",
    "core_cohort_create_cohorts",
    "core_cohort_add_cohort_members",
    "core_cohort_delete_cohort_members",
)


def measure(employees: int, sizes: Sequence[int]) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        mapping = Path(folder) / "mapping.toml"
        mapping.write_text(MAPPING, encoding="utf-8")
        for batch_size in sizes:
            with emulators(employees) as services:
                drained = harness.drain_window(services, employees, batch_size, 0.0, {"MAPPING_FILE": str(mapping)})
                moodle = services.moodle.emulator
                by_function = {name: moodle.call_count(name) for name in COHORT_FUNCTIONS}
                by_function["core_user_create_users"] = moodle.call_count("core_user_create_users")
                members = sum(len(moodle.cohort_members(c["id"])) for c in moodle.cohorts())
                runs.append(
                    drained.as_dict() | {"calls": by_function, "cohorts": len(moodle.cohorts()), "memberships": members}
                )
    return {"employees": employees, "target": TARGET, "runs": runs}


def section(measured: dict[str, Any] | None) -> str:
    """BENCHMARKS.md's section: the first load with cohorts and profile fields, by batch size."""
    if not measured:
        return ""
    lines = [
        "## 1c. A first load with cohorts and custom profile fields\n",
        f"{measured['employees']:,} employees, every one new to Moodle, with two cohort rules (department, location) "
        "and two profile fields (job title, hire date), drained in-process as in section 1 (`bench/cohorts.py`). "
        f"Target: at most {measured['target']} round trips per employee.\n",
        "| BATCH_SIZE | batches | BambooHR req. | Moodle req. | total/emp. | verdict | create_users | site_info | "
        "get_cohorts | get_cohort_members | create_cohorts | add_cohort_members | cohorts | memberships | drain (s) |",
        "|" + "---|" * 15,
    ]
    for run in measured["runs"]:
        calls = run["calls"]
        verdict = "met" if run["per_employee"] <= measured["target"] else "**missed**"
        lines.append(
            f"| {run['batch_size']:,} | {run['batches']} | {run['bamboohr_requests']:,} | {run['moodle_requests']:,} | "
            f"{run['per_employee']:.4f} | {verdict} | {calls['core_user_create_users']} | "
            f"{calls['core_webservice_get_site_info']} | {calls['core_cohort_get_cohorts']} | "
            f"{calls['core_cohort_get_cohort_members']} | {calls['core_cohort_create_cohorts']} | "
            f"{calls['core_cohort_add_cohort_members']} | {run['cohorts']} | {run['memberships']:,} | "
            f"{run['wall_s']:.1f} |"
        )
    lines.append(_why(measured))
    return "\n".join(lines) + "\n"


def _why(measured: dict[str, Any]) -> str:
    """The section's explanation, with the per-batch figures of the smallest BATCH_SIZE measured."""
    run = min(measured["runs"], key=lambda r: r["batch_size"])
    batches, calls = run["batches"], run["calls"]
    per_batch = (run["bamboohr_requests"] + run["moodle_requests"]) / batches
    return (
        "\n**Why.** Per window, cohorts add one `core_webservice_get_site_info` (the token must offer the cohort "
        "functions) and the guard's `core_cohort_get_cohorts` (a site with no owned cohort yet has nothing to "
        "remove, so the guard stops there). A batch whose accounts are all new, as every batch of a first load is, "
        "reads no cohort at all: nobody can be a member of one yet, so it only adds, naming each cohort by its "
        "idnumber (4 form variables a member, about 249 a call under `max_input_vars` 1,000: two rules cost about "
        "2/249 calls an employee). Where Moodle answers that a cohort does not exist (warning 2, `cohort "
        "idnumber=... not exists`, nothing added for it), the task creates exactly those cohorts and sends exactly "
        f"those additions again, by id: here {calls['core_cohort_create_cohorts']} create call(s), in the "
        "first batch, whose additions go twice (every cohort is new then); later batches find their cohorts. "
        "A batch with accounts that existed before it (a steady window) reads the cohorts and the owned "
        "cohorts' members, one call each. Profile fields add 2 variables each to a created user, so a create call "
        "carries about 76 users instead of 110. A first-load batch looks its employees up by idnumber, by username "
        "and by e-mail ignoring case (one `%@domain` call, whose answer holds every account the exact e-mail lookup "
        "would find, so that lookup is not made; a batch whose accounts already hold their usernames and e-mails "
        "makes the idnumber lookup alone). "
        f"At B={run['batch_size']} a batch of a first load costs {per_batch:.1f} requests on average: a BambooHR "
        "report, three lookups, three creates of about 76 users and two additions, plus its share of the window's "
        "fixed calls (the change list, the suspension guard's status reports of 1,000 employees each, the site "
        "info, the guard's cohort listing). The creates and additions are the floor that chunking under "
        "`max_input_vars` 1,000 sets; the fixed calls of a batch are spread over its employees, so the total falls "
        "with BATCH_SIZE. A site with a higher `max_input_vars` (Moodle's own environment check asks for 5,000) "
        "takes fewer, larger create and add calls."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Measure this section alone (10,000 employees at 200, 500 and 1,000) and merge it into results.json."""
    args = list(argv if argv is not None else sys.argv[1:])
    employees = int(args[0]) if args else 10_000
    results_path = Path(__file__).resolve().parent / "results" / "results.json"
    results = json.loads(results_path.read_text())
    results["cohorts"] = measure(employees, (200, 500, 1_000))
    results_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    for run in results["cohorts"]["runs"]:
        print(f"B={run['batch_size']}: {run['per_employee']:.4f} round trips per employee", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
