"""A preview as text (a summary first, then one line per employee) and as CSV (one row per employee and change)."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..preview import Preview, Row

GUARD_WORDS = {True: "WOULD STOP this window", False: "would let it through"}


def summary_text(preview: Preview) -> str:
    counts = ", ".join(f"{count} {name}" for name, count in preview.counts.items())
    source = "frozen change list" if preview.frozen else "BambooHR's change list and the retry list"
    lines = [f"window {preview.since} from offset {preview.offset}: {len(preview.rows)} employees ({source})"]
    lines.append(f"would be: {counts}")
    lines.append(f"mapping: {preview.mapping_file or 'the default (MAPPING_FILE is not set)'}")
    guard = preview.guard
    if guard is None:
        lines.append("suspension guard: not consulted (the window is under way, or ALLOW_MASS_SUSPEND is set)")
    else:
        approved = ", approved by an operator" if guard.approved else ""
        lines.append(
            f"suspension guard: {len(guard.would_suspend)} suspensions against a limit of {guard.limit}: "
            f"{GUARD_WORDS[guard.would_stop]}{approved}"
        )
    cohorts = preview.cohort_guard
    if cohorts is not None:
        approved = ", approved by an operator" if cohorts.approved else ""
        lines.append(
            f"cohort guard: {len(cohorts.removals.remove)} removals against a limit of {cohorts.limit}: "
            f"{GUARD_WORDS[cohorts.would_stop]}{approved}"
        )
    return "\n".join(lines)


def preview_text(preview: Preview) -> str:
    return "\n".join([summary_text(preview), "", *(row_line(row) for row in preview.rows)])


def row_line(row: Row) -> str:
    """One employee: id, action, name, then the reason or each change as before -> after."""
    detail = row.reason or "; ".join(
        f"{name}: {before!r} -> {after!r}" for name, (before, after) in row.changes.items()
    )
    return f"{row.id:>8}  {row.action:<10}  {row.name[:30]:<30}  {detail}".rstrip()


def row_from(data: Mapping[str, Any]) -> Row:
    """A row back from ``Row.as_dict`` (a dry run's log line)."""
    changes = {name: (values[0], values[1]) for name, values in data.get("changes", {}).items()}
    return Row(str(data["id"]), str(data.get("name", "")), str(data["action"]), str(data.get("reason", "")), changes)


def write_csv(preview: Preview, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "name", "action", "reason", "field", "before", "after"])
        for row in preview.rows:
            if not row.changes:
                writer.writerow([row.id, row.name, row.action, row.reason, "", "", ""])
            for name, (before, after) in row.changes.items():
                writer.writerow([row.id, row.name, row.action, row.reason, name, before, after])
