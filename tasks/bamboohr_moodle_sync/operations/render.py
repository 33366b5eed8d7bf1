"""A preview as text (a summary first, then one line per employee) and as CSV (one row per employee and change)."""

from __future__ import annotations

import csv
from pathlib import Path

from ..preview import Preview

GUARD_WORDS = {True: "WOULD STOP this window", False: "would let it through"}


def summary_text(preview: Preview) -> str:
    counts = ", ".join(f"{count} {name}" for name, count in preview.counts.items())
    source = "frozen change list" if preview.frozen else "BambooHR's change list and the retry list"
    lines = [f"window {preview.since} from offset {preview.offset}: {len(preview.rows)} employees ({source})"]
    lines.append(f"would be: {counts}")
    guard = preview.guard
    if guard is None:
        lines.append("suspension guard: not consulted (the window is under way, or ALLOW_MASS_SUSPEND is set)")
    else:
        approved = ", approved by an operator" if guard.approved else ""
        lines.append(
            f"suspension guard: {len(guard.would_suspend)} suspensions against a limit of {guard.limit}: "
            f"{GUARD_WORDS[guard.would_stop]}{approved}"
        )
    return "\n".join(lines)


def preview_text(preview: Preview) -> str:
    lines = [summary_text(preview), ""]
    for row in preview.rows:
        detail = row.reason or "; ".join(
            f"{name}: {before!r} -> {after!r}" for name, (before, after) in row.changes.items()
        )
        lines.append(f"{row.id:>8}  {row.action:<10}  {row.name[:30]:<30}  {detail}".rstrip())
    return "\n".join(lines)


def write_csv(preview: Preview, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "name", "action", "reason", "field", "before", "after"])
        for row in preview.rows:
            if not row.changes:
                writer.writerow([row.id, row.name, row.action, row.reason, "", "", ""])
            for name, (before, after) in row.changes.items():
                writer.writerow([row.id, row.name, row.action, row.reason, name, before, after])
