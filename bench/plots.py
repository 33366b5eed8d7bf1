"""PNG plots of the results (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def round_trips(results: dict[str, Any], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for window in sorted({d["employees"] for d in results["round_trips"]}):
        rows = sorted((d for d in results["round_trips"] if d["employees"] == window), key=lambda d: d["batch_size"])
        sizes = [d["batch_size"] for d in rows]
        ax.plot(sizes, [d["per_employee"] for d in rows], marker="o", label=f"{window:,}: total")
        ax.plot(sizes, [d["moodle_per_employee"] for d in rows], ls="--", marker=".", label=f"{window:,}: Moodle")
        ax.plot(sizes, [d["bamboohr_per_employee"] for d in rows], ls=":", marker=".", label=f"{window:,}: BambooHR")
    ax.axhline(results["targets"]["round_trips"]["limit"], color="red", lw=1, label="target")
    ax.set(xscale="log", yscale="log", xlabel="BATCH_SIZE", ylabel="requests per employee", title="Round trips")
    ax.legend(fontsize=7)
    return _save(fig, out / "round_trips.png")


def wall_time(results: dict[str, Any], out: Path) -> Path:
    runs = results["wall_time"]["runs"]
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [f"{r['latency_ms']:g} ms" for r in runs]
    positions = range(len(runs))
    ax.bar([p - 0.2 for p in positions], [r["batch_s"] for r in runs], width=0.4, label="batch task")
    ax.bar([p + 0.2 for p in positions], [r["reference_s"] for r in runs], width=0.4, label="per-record reference")
    for p, r in zip(positions, runs, strict=True):
        ax.annotate(f"{r['ratio']:.1f}x", (p, max(r["batch_s"], r["reference_s"])), ha="center", va="bottom")
    ax.set(
        xticks=list(positions),
        xticklabels=labels,
        ylabel="seconds",
        title=f"{results['wall_time']['employees']:,}-employee window",
    )
    ax.legend()
    return _save(fig, out / "wall_time.png")


def model(results: dict[str, Any], out: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    rows = results["model"]["drains"]
    for window in sorted({r["employees"] for r in rows}):
        mine = sorted((r for r in rows if r["employees"] == window), key=lambda r: r["batch_size"])
        sizes = [r["batch_size"] for r in mine]
        left.plot(sizes, [r["drain_h"] for r in mine], marker="o", label=f"{window:,}")
        right.plot(sizes, [r["cost_total"] for r in mine], marker="o", label=f"{window:,}")
    chosen = results["recommendation"]["batch_size"]
    for ax in (left, right):
        ax.axvline(chosen, color="grey", ls="--", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="BATCH_SIZE")
        ax.legend(title="employees", fontsize=7)
    left.set(ylabel="hours", title="Modelled drain time on AWS")
    right.set(ylabel="USD", title="Modelled cost of one drain")
    return _save(fig, out / "model.png")


def memory(results: dict[str, Any], out: Path) -> Path:
    runs = results["rss"]["runs"]
    fig, ax = plt.subplots(figsize=(6, 4))
    labels, values = [], []
    for run in runs:
        labels += [f"{run['employees']:,}\nfirst", f"{run['employees']:,}\nbatch {run['later_batch']['number']}"]
        values += [run["first_batch"]["peak_mb"], run["later_batch"]["peak_mb"]]
    ax.bar(labels, values)
    ax.axhline(results["targets"]["rss"]["limit"], color="red", lw=1, label="target")
    ax.axhline(results["rss"]["baseline_mb"], color="grey", ls="--", lw=1, label="interpreter + imports")
    ax.set(ylabel="peak RSS (MB)", title="Batch task memory")
    ax.legend()
    return _save(fig, out / "memory.png")


def all_plots(results: dict[str, Any], out: Path) -> list[Path]:
    return [round_trips(results, out), wall_time(results, out), memory(results, out), model(results, out)]


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
