"""How time and memory grow with the number of users: each stage of the package at sizes N, 10N, 100N, ...

    benchmarks/bench_scale.py --users 10000,100000 --out runs/scale [--stages a,b] [--timeout-s S] [--seed 0]

Sizes scale together with ``users``: items = users / 4, events per period = 2 x users, 6 periods of the embedded
synthetic stream (``asmg_tf.data.synthetic.synthetic_stream``, no downloads; protocol ``Protocol.scaled(6)``:
pretrain on periods 1-2, update from 3, the default method's first iteration is 5). With one negative per positive a
period holds about 4 x users samples.

Stages, in order, each in its own process (``benchmarks/scale_stages.py``: what each one calls), handing its output
to the next through files in ``OUT/<users>/``: stream (generate the events), preprocess (events -> periods, as
``asmg bench``), pretrain (1 epoch), iu_step (one IU epoch on one period), meta_train (one ``observe(i)`` of the
default method, asmg_plus), generate (its ``serve(i)``), export (TF Serving SavedModel), pipeline_span (the TFX
pipeline over its spans up to the first update span; the stream is cut into span folders first).

Per size and stage ``OUT/scale.json`` holds ``users``, ``items``, ``events_per_period``, ``stage``, ``seconds`` (the
stage's work, timed inside its process), ``wall_seconds`` (the process, TensorFlow import and input reading
included), ``peak_rss_mb`` (the process's peak resident set, from ``os.wait4``), ``status`` ("ok", "timeout",
"failed: <reason>", "skipped: <why>") and ``detail``. It is rewritten atomically after every stage; records with
status ok are kept and not rerun, so rerunning a killed command continues it. Before a stage runs, its peak memory
is estimated (``estimate_mb``); a stage that would not fit in ``--memory-gib`` is skipped with the estimate, not
run into swap. Prints a markdown table and the log-log slope of seconds and of peak RSS vs users per stage, and
plots both (``OUT/scale.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from asmg_tf.cli_args import positive_float, split_names  # noqa: E402
from asmg_tf.files import write_json  # noqa: E402
from benchmarks.scale_stages import STAGES, sizes  # noqa: E402

#: stage -> the stage whose output it reads
NEEDS = {
    "stream": None,
    "preprocess": "stream",
    "pretrain": "preprocess",
    "iu_step": "pretrain",
    "meta_train": "iu_step",
    "generate": "meta_train",
    "export": "generate",
    "pipeline_span": "stream",
}
ORDER = list(STAGES)
#: the TFX pipeline writes one tf.Example per event from Python and runs Beam's DirectRunner in one process
#: (~10^4 events/s here): beyond this size one span takes hours, so it is skipped (--pipeline-max-users)
PIPELINE_MAX_USERS = 100_000

# peak-memory model, bytes, calibrated on the runs at 10^4-3x10^5 users (docs/results/scale.md): a sample is user,
# item, 30 history ids, length, label (4 bytes each) and a timestamp (8). The period set is memory-mapped and
# streamed (issue 15, item 2): a TensorFlow stage peaks at ~3.4 times the periods it trains or scores on (pretraining
# concatenates its periods; their mapped pages; the batches) above ~0.85 GB (the import and the graph)
SAMPLE_BYTES = 4 * 34 + 8
TF_BASE_MB = 850
TF_DATA_COPIES = 3.4
EMBEDDING_DIM = 8
#: periods a stage holds at once: pretraining's, IU's one, meta-training's targets (k = 3) and the comparison
#: period; generation and export read none
PERIODS_HELD = {"pretrain": 2, "iu_step": 1, "meta_train": 3, "generate": 0, "export": 0}


def estimate_mb(stage: str, users: int) -> float:
    """Rough peak RSS of ``stage`` at ``users`` (MB): the arrays it holds at once, times the copies it makes."""
    s = sizes(users)
    events = s["events_per_period"] * s["num_periods"]
    samples = 2 * events  # one negative per positive
    rows = users + s["items"]
    table = rows * EMBEDDING_DIM * 4  # one model's id tables
    mb = 2**20
    if stage == "stream":
        return (events * 8 * 3 * 3 + users * 200) / mb + 150  # per-period lists, their concatenation, the frame
    if stage in ("preprocess", "pipeline_span"):  # sort keys, histories, split copies (the pipeline: and TensorFlow)
        base = TF_BASE_MB if stage == "pipeline_span" else 300
        return (events * 8 * 3 * 3 + samples * SAMPLE_BYTES * 3) / mb + base
    if stage == "export":
        return 4 * table / mb + TF_BASE_MB  # weights, the out-of-vocabulary copy and the saved variables
    periods = samples / s["num_periods"] * PERIODS_HELD[stage] * SAMPLE_BYTES * TF_DATA_COPIES
    if stage == "generate":  # the served model and the carried state (H = 4); the window is read a chunk at a time
        return 5 * table / mb + TF_BASE_MB
    model = 3 * table  # weights and Adam's two slots
    # meta-training: its whole window (k = 3) and the generator's per-coordinate GRU work (H = 4, ~10 arrays)
    generator = 3 * table + table * 4 * 10 if stage == "meta_train" else 0
    return (periods + model + generator) / mb + TF_BASE_MB


def load_records(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["records"]


def run_child(stage: str, users: int, d: str, seed: int, timeout_s: float | None) -> dict:
    """Run ``stage`` in a new process; ``{"status", "seconds", "wall_seconds", "peak_rss_mb", "detail"}``."""
    log_path = os.path.join(d, f"{stage}.log")
    cmd = [sys.executable, os.path.join(REPO, "benchmarks", "scale_stages.py"), stage, "--dir", d]
    cmd += ["--users", str(users), "--seed", str(seed)]
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, preexec_fn=_first_to_go
        )
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if timeout_s is not None and time.perf_counter() - start > timeout_s:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: Beam or TF helpers go with it
            pid, status, usage = os.wait4(proc.pid, 0)
            timed_out = True
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    wall = time.perf_counter() - start
    out = {"wall_seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024}  # Linux: kilobytes
    done = os.path.join(d, f"{stage}.done.json")
    if timed_out:
        return {**out, "status": "timeout", "seconds": wall, "detail": {"timeout_s": timeout_s}}
    if proc.returncode == 0 and os.path.exists(done):
        with open(done) as f:
            result = json.load(f)
        return {**out, "status": "ok", "seconds": result["seconds"], "detail": result["detail"]}
    return {**out, "status": f"failed: {_last_error(log_path, proc.returncode)}", "seconds": wall, "detail": {}}


def _first_to_go() -> None:
    """In the stage's process: if memory runs out, the kernel kills this stage first, not a neighbour's job."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:  # not Linux, or not allowed: the estimate's skip still applies
        pass


def _last_error(log_path: str, returncode: int) -> str:
    """The last non-empty line of the stage's log (the exception), else the exit status."""
    with open(log_path, errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    what = f"exit status {returncode}" + (" (killed: out of memory?)" if returncode == -signal.SIGKILL else "")
    return f"{lines[-1][:300]} ({what})" if lines else what


def skip_reason(stage: str, users: int, d: str, args, by_key: dict) -> str | None:
    est = estimate_mb(stage, users)
    if est > args.memory_gib * 1024:
        return f"skipped: estimated peak RSS {est / 1024:.1f} GiB exceeds --memory-gib {args.memory_gib:g}"
    if stage == "pipeline_span" and users > args.pipeline_max_users:
        return (
            f"skipped: above --pipeline-max-users {args.pipeline_max_users} (one tf.Example per event written from "
            "Python, Beam DirectRunner in one process: hours per span at this size)"
        )
    need = NEEDS[stage]
    if need and not os.path.exists(os.path.join(d, f"{need}.done.json")):
        prev = by_key.get((users, need), {}).get("status", "not run")
        if prev.startswith("skipped: no input"):  # the first stage that did not run says why
            return prev
        if prev.startswith("skipped: "):
            return f"skipped: no input ({need} {prev})"
        return f"skipped: {need} did not finish ({prev})"
    return None


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log y on log x (None with fewer than two distinct sizes)."""
    import numpy as np

    if len(set(xs)) < 2 or any(y <= 0 for y in ys):
        return None
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def slopes(records: list[dict]) -> dict[str, dict]:
    """Per stage: the seconds and RSS slopes over the sizes that finished, and the largest such size."""
    out = {}
    for stage in ORDER:
        ok = sorted((r for r in records if r["stage"] == stage and r["status"] == "ok"), key=lambda r: r["users"])
        xs = [r["users"] for r in ok]
        out[stage] = {
            "seconds_slope": slope(xs, [r["seconds"] for r in ok]),
            "rss_slope": slope(xs, [r["peak_rss_mb"] for r in ok]),
            "largest_users": xs[-1] if xs else None,
        }
    return out


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def table(records: list[dict]) -> str:
    """Markdown: one row per stage, seconds / peak RSS MB per size (or the status), the slopes."""
    users = sorted({r["users"] for r in records})
    by_key = {(r["users"], r["stage"]): r for r in records}
    fits = slopes(records)
    head = "| stage | " + " | ".join(f"{u:,} users: s / MB" for u in users) + " | slope s | slope RSS |"
    rows = [head, "|" + "---|" * (len(users) + 3)]
    for stage in ORDER:
        cells = []
        for u in users:
            r = by_key.get((u, stage))
            if r is None:
                cells.append("-")
            elif r["status"] == "ok":
                cells.append(f"{r['seconds']:.3g} / {r['peak_rss_mb']:.0f}")
            else:
                cells.append(r["status"].split(":")[0])
        if any(c != "-" for c in cells):
            f = fits[stage]
            rows.append(
                f"| {stage} | "
                + " | ".join(cells)
                + f" | {_fmt(f['seconds_slope'], '.2f')} | {_fmt(f['rss_slope'], '.2f')} |"
            )
    return "\n".join(rows)


def plot(records: list[dict], path: str) -> str | None:
    """Log-log seconds and peak RSS vs users, one line per stage (ok records)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_s, ax_m) = plt.subplots(1, 2, figsize=(12, 4.5))
    drew = False
    for stage in ORDER:
        ok = sorted((r for r in records if r["stage"] == stage and r["status"] == "ok"), key=lambda r: r["users"])
        if not ok:
            continue
        drew = True
        xs = [r["users"] for r in ok]
        ax_s.plot(xs, [r["seconds"] for r in ok], "o-", label=stage)
        ax_m.plot(xs, [r["peak_rss_mb"] for r in ok], "o-", label=stage)
    if not drew:
        plt.close(fig)
        return None
    for ax, label in ((ax_s, "seconds (the stage's work)"), (ax_m, "peak RSS of the stage's process (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("users (items = users/4, events per period = 2 x users)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    ax_s.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)
    return path


def run(args) -> list[dict]:
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "scale.json")
    records = load_records(json_path)
    by_key = {(r["users"], r["stage"]): r for r in records}

    def save() -> None:
        ordered = sorted(by_key.values(), key=lambda r: (r["users"], ORDER.index(r["stage"])))
        for r in ordered:  # the current model's estimate, also for records kept from an earlier run
            r["estimated_rss_mb"] = round(estimate_mb(r["stage"], r["users"]))
        write_json(json_path, {"ratios": RATIOS, "machine": machine(), "records": ordered, "slopes": slopes(ordered)})

    for users in args.users:
        d = os.path.join(os.path.abspath(args.out), str(users))
        os.makedirs(d, exist_ok=True)
        for stage in [s for s in ORDER if s in args.stages]:
            old = by_key.get((users, stage))
            if old and old["status"] == "ok":
                print(f"{users:>10,} {stage:<14} ok (kept from {json_path})", flush=True)
                continue
            reason = skip_reason(stage, users, d, args, by_key)
            result = (
                {"status": reason, "seconds": None, "wall_seconds": None, "peak_rss_mb": None, "detail": {}}
                if reason
                else run_child(stage, users, d, args.seed, args.timeout_s)
            )
            by_key[(users, stage)] = {
                **{k: v for k, v in sizes(users).items()},
                "stage": stage,
                **result,
                "estimated_rss_mb": round(estimate_mb(stage, users)),
            }
            save()
            r = by_key[(users, stage)]
            said = (
                f"{r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB (process {r['wall_seconds']:.1f} s)"
                if r["status"] == "ok"
                else r["status"]
            )
            print(f"{users:>10,} {stage:<14} {said}", flush=True)
    save()
    return sorted(by_key.values(), key=lambda r: (r["users"], ORDER.index(r["stage"])))


RATIOS = (
    "items = users / 4, events per period = 2 x users, 6 periods (pretrain 1-2, update from 3), "
    "one negative per positive (~4 x users samples per period); embedding dim 8, asmg_plus (k = 3), 1 pretraining epoch"
)


def machine() -> dict:
    load = os.getloadavg()
    mem = None
    if os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as f:
            mem = next((int(line.split()[1]) / 2**20 for line in f if line.startswith("MemTotal")), None)
    return {"cpus": os.cpu_count(), "memory_gib": mem, "load_at_save": [round(x, 2) for x in load]}


def _sizes_arg(text: str) -> list[int]:
    try:
        out = [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--users takes comma-separated integers (e.g. 10000,1e5), got {text!r}"
        ) from None
    if not out or min(out) < 10:
        raise argparse.ArgumentTypeError(f"--users needs sizes of at least 10, got {text!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=_sizes_arg, required=True, help="sizes, e.g. 10000,100000,1e6")
    p.add_argument("--out", required=True, help="folder for scale.json, scale.png and the stages' files")
    p.add_argument("--stages", type=split_names, default=ORDER, help=f"a subset of {','.join(ORDER)}")
    p.add_argument("--timeout-s", type=positive_float, help="kill a stage after this many seconds (status timeout)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--memory-gib", type=positive_float, default=22.0, help="skip stages estimated above this")
    p.add_argument("--pipeline-max-users", type=int, default=PIPELINE_MAX_USERS)
    args = p.parse_args(argv)
    unknown = sorted(set(args.stages) - set(ORDER))
    if unknown:
        p.error(f"unknown stage(s) {unknown}; available: {','.join(ORDER)}")
    records = run(args)
    print(f"\nsizes: {RATIOS}\n")
    print(table(records))
    print()
    for stage, f in slopes(records).items():
        if f["largest_users"] is not None:
            print(
                f"{stage}: seconds ~ users^{_fmt(f['seconds_slope'], '.2f')}, peak RSS ~ "
                f"users^{_fmt(f['rss_slope'], '.2f')}, largest size finished {f['largest_users']:,}"
            )
    png = plot(records, os.path.join(args.out, "scale.png"))
    print(f"\nresults: {os.path.join(args.out, 'scale.json')}" + (f", plot: {png}" if png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
