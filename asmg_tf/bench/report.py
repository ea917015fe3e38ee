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


def format_summary(summary: dict) -> str:
    """The replicate table: mean ± sd of AUC and LogLoss, the paired AUC difference against IU (and the reference)
    with its 95 % interval and verdict, and what the interval is."""
    setup, reference = summary["replicates_setup"], summary["statistics"]["reference"]
    head = f"{'method':<18} {'AUC mean ± sd':>17} {'LogLoss mean ± sd':>19} {'ΔAUC vs iu [95% CI]':>30}  verdict"
    lines = [head]
    for name, r in summary["methods"].items():
        line = f"{name:<18} {_mean_sd(r['mean_auc'], r['auc_sd'])} {_mean_sd(r['mean_logloss'], r['logloss_sd'])}  "
        line += _diff(r.get("diff_vs_iu"))
        if reference and reference != "iu":
            line += f"  | vs {reference}: " + _diff(r.get("diff_vs_reference"))
        lines.append(line)
    its = summary["test_iterations"]
    lines.append(
        f"({setup['count']} of {setup['planned']} replicate(s), seeds {setup['seeds']}, negative-sampling seeds "
        f"{sorted(set(setup['sample_seeds']))}; means over test iterations {its[0]}-{its[-1]}; "
        f"{summary['statistics']['ci']}; win/loss only where the interval excludes 0)"
    )
    return "\n".join(lines)


def _mean_sd(mean: float, sd: float | None) -> str:
    return f"{mean:8.4f} ± {sd:.4f}" if sd is not None else f"{mean:8.4f} ±    –  "


def _diff(d: dict | None) -> str:
    if d is None:
        return f"{'–':>30}  "
    ci = d["ci95"]
    interval = f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "[no interval]"
    return f"{d['mean']:+.4f} {interval:>22}  {d['verdict']}"


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


def write_replicates(out_dir: str, summary: dict, replicates: list[dict]) -> None:
    """The summary's results.json / per_period.csv (means over replicates) and replicates.csv (one row per
    replicate and method)."""
    write_results(out_dir, summary)
    with open(os.path.join(out_dir, "replicates.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "seed", "sample_seed", "mean_auc", "mean_logloss", "seconds"])
        for rep in replicates:
            for name, r in rep["methods"].items():
                w.writerow([name, rep["replicate"]["seed"], rep["replicate"]["sample_seed"], r["mean_auc"],
                            r["mean_logloss"], r["seconds"]])  # fmt: skip


def plot_results(
    out_dir: str, results: dict, filename: str = "auc_per_period.png", methods: Sequence[str] | None = None
) -> str:
    """Per-period AUC (and LogLoss) of every method (or of ``methods``); the test iterations are shaded. Over
    replicates: the per-period mean with a band of ± one sd."""
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
            ys = [p[key] for p in r["per_period"]]
            ax.plot(xs, ys, marker=".", label=name, color=cmap(k % cmap.N), linewidth=2.2 if name == "iu" else 1.2)
            sds = [p.get(f"{key}_sd") for p in r["per_period"]]
            if all(sd is not None for sd in sds):
                low, high = [y - sd for y, sd in zip(ys, sds)], [y + sd for y, sd in zip(ys, sds)]
                ax.fill_between(xs, low, high, color=cmap(k % cmap.N), alpha=0.15, linewidth=0)
        ax.axvspan(its[0] - 0.5, its[-1] + 0.5, color="0.9", zorder=0, label="test iterations")
        ax.set_xlabel("iteration i (trained on period i, scored on period i+1)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterations are whole numbers (no 12.5 ticks)
        n = results.get("replicates_setup", {}).get("count", 1)
        ax.set_title(f"{results['dataset']}: {title}" + (f", mean ± sd of {n} replicates" if n > 1 else ""))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, filename)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
