"""Bench outputs: the paper-style table, results.json / per_period.csv, and a per-period AUC plot."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence

from asmg_tf.files import write_json


def improvement(value: float, base: float, higher_is_better: bool) -> float:
    """Relative improvement over IU in percent, as the paper's imp% (docs/method.md §1.4)."""
    if not base or math.isnan(base) or math.isnan(value):
        return float("nan")
    return 100.0 * ((value - base) / base if higher_is_better else (base - value) / base)


def format_table(results: dict) -> str:
    methods = results["methods"]
    base = methods.get("iu")
    lines = [f"{'method':<18} {'AUC':>8} {'imp%':>7} {'LogLoss':>8} {'imp%':>7} {'seconds':>9}"]
    for name, r in methods.items():
        auc_imp = improvement(r["mean_auc"], base["mean_auc"], True) if base else float("nan")
        ll_imp = improvement(r["mean_logloss"], base["mean_logloss"], False) if base else float("nan")
        lines.append(
            f"{name:<18} {r['mean_auc']:8.4f} {_pct(auc_imp, name)} {r['mean_logloss']:8.4f} {_pct(ll_imp, name)} "
            f"{r['seconds']:9.1f}"
        )
    its = results["test_iterations"]
    lines.append(f"(means over test iterations {its[0]}-{its[-1]}, i.e. data of periods {its[0] + 1}-{its[-1] + 1})")
    return "\n".join(lines)


def _pct(x: float, name: str) -> str:
    return f"{'–':>7}" if name == "iu" or math.isnan(x) else f"{x:+6.2f}%"


def write_results(out_dir: str, results: dict) -> None:
    write_json(os.path.join(out_dir, "results.json"), results)
    with open(os.path.join(out_dir, "per_period.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "iteration", "auc", "logloss", "seconds"])
        for name, r in results["methods"].items():
            for row in r["per_period"]:
                w.writerow([name, row["iteration"], row["auc"], row["logloss"], row.get("seconds", "")])


def plot_results(
    out_dir: str, results: dict, filename: str = "auc_per_period.png", methods: Sequence[str] | None = None
) -> str:
    """Per-period AUC (and LogLoss) of every method (or of ``methods``); the test iterations are shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    its = results["test_iterations"]
    for ax, key, title in (
        (axes[0], "auc", "AUC (higher is better)"),
        (axes[1], "logloss", "LogLoss (lower is better)"),
    ):
        names = [m for m in results["methods"] if methods is None or m in methods]
        # tab10 repeats after 10 methods: switch to tab20 so every method keeps its own colour
        cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
        for k, name in enumerate(names):
            r = results["methods"][name]
            xs = [p["iteration"] for p in r["per_period"]]
            ax.plot(
                xs,
                [p[key] for p in r["per_period"]],
                marker=".",
                label=name,
                color=cmap(k % cmap.N),
                linewidth=2.2 if name == "iu" else 1.2,
            )
        ax.axvspan(its[0] - 0.5, its[-1] + 0.5, color="0.9", zorder=0, label="test iterations")
        ax.set_xlabel("iteration i (trained on period i, scored on period i+1)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterations are whole numbers (no 12.5 ticks)
        ax.set_title(f"{results['dataset']}: {title}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, filename)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
