"""Kill -9 anywhere: run an ``asmg`` command, SIGKILL it at a seeded random instant, rerun it, compare with an
uninterrupted run.

    python tools/chaos.py --command bench --trials 30 --seed 0 --work runs/chaos
    python tools/chaos.py --command export --trials 30 --seed 0 --work runs/chaos
    python tools/chaos.py --command backfill --trials 30 --seed 0 --work runs/chaos

Each command runs on the smallest configuration that still goes through the real code (a tiny synthetic stream,
fresh folders and cache per trial, so kills land in preprocessing, pretraining, the IU chain, method steps, TFX
components, pushes and exports alike). First one uninterrupted reference run; then per trial: start the command in
its own process group, kill the group (SIGKILL) after ``u`` seconds, ``u`` drawn uniformly from [0, reference wall
time) by ``Random(f"{seed}-{command}-{trial}")``; check what a reader sees right after the kill (every numeric
version folder complete and readable, i.e. nothing half-written visible to ``asmg serve``); rerun to completion;
compare. Per trial it records: ``killed`` (False when the command finished first), ``survived`` (the rerun exited 0,
or for an export whose version was already complete, refused to overwrite it), ``identical`` (final per-period
metrics and pushed versions' weights equal to the reference, bit for bit), ``close`` (metrics within 1e-4 AUC /
1e-5 log loss, the tolerance of multithreaded float32 sums), ``lost`` (a committed unit, i.e. a scored iteration, a
finished span's metrics or a pushed version, changed or missing after the rerun) and ``temporaries`` (leftover
temporary files after the rerun) and ``extra_bytes`` (bytes under the trial's folder beyond the reference run's,
e.g. the outputs of a TFX execution the kill cut short). One JSON line per trial goes to ``<work>/<command>/trials.jsonl`` and a summary
line to stdout. Run it under ``nice`` on shared machines.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
TINY = ["--synthetic", "num_users=60", "--synthetic", "num_items=40", "--pretrain-epochs", "1"]
PROTOCOL = ["num_periods=6", "pretrain_end=1", "update_start=2", "test_start=4", "test_end=5"]
AUC_TOL, LOGLOSS_TOL = 1e-4, 1e-5


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": REPO, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def command_args(command: str, work: str, weights: str | None = None) -> list[str]:
    """The ``asmg`` arguments of ``command`` writing under ``work``."""
    if command == "bench":
        return ["bench", "--methods", "iu,asmg_gru_multi", "--option", "asmg_gru_multi.k=2", "--num-periods", "8",
                *TINY, "--out", f"{work}/out", "--cache-dir", f"{work}/cache", "--no-plot", "--quiet"]  # fmt: skip
    if command == "export":  # ``weights``: an IU weights file of a bench cache, beside its periods (categories)
        periods = os.path.join(os.path.dirname(weights), "..", "..", "periods")
        return ["export", "--weights", weights, "--periods", periods, "--base-dir", f"{work}/models", "--version", "7"]
    if command == "backfill":
        protocol = [a for p in PROTOCOL for a in ("--protocol", p)]
        return ["pipeline", "backfill", "--root", f"{work}/root", "--num-periods", "6", *TINY, *protocol,
                "--option", "asmg_plus.k=2", "--capacity-headroom", "4.0", "--quiet"]  # fmt: skip
    raise ValueError(command)


def run(args: list[str], kill_after: float | None = None, log: str | None = None) -> tuple[int, float, bool]:
    """(exit code, seconds, killed): the command in its own session; SIGKILL to its group after ``kill_after``."""
    start = time.perf_counter()
    with open(log or os.devnull, "a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asmg_cli", *args], cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            proc.wait(timeout=kill_after)
            return proc.returncode, time.perf_counter() - start, False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return proc.returncode, time.perf_counter() - start, True


# -- what a command leaves --------------------------------------------------------------------------------------
def version_digest(path: str) -> str:
    """SHA-256 of a version's variables (the weights), after checking the version is complete and readable."""
    import tensorflow as tf

    prefix = os.path.join(path, "variables", "variables")
    for needed in ("saved_model.pb", "variables/variables.index"):
        if not os.path.exists(os.path.join(path, needed)):
            raise AssertionError(f"half-written version visible: {path} has no {needed}")
    reader = tf.train.load_checkpoint(prefix)
    h = hashlib.sha256()
    for name in sorted(reader.get_variable_to_shape_map()):
        h.update(name.encode())
        h.update(reader.get_tensor(name).tobytes() if name != "_CHECKPOINTABLE_OBJECT_GRAPH" else b"")
    return h.hexdigest()


def versions(model_dir: str) -> dict[str, str]:
    """``{version: digest}`` of the numeric version folders (what ``asmg serve`` would load)."""
    if not os.path.isdir(model_dir):
        return {}
    return {v: version_digest(os.path.join(model_dir, v)) for v in sorted(os.listdir(model_dir)) if v.isdigit()}


def _state_rows(out: str) -> dict:
    """Scored rows per method as committed (the method state's record, ``.old`` after a crash between renames)."""
    rows = {}
    for mdir in glob.glob(os.path.join(out, "methods", "*")):
        for folder in ("state", "state.old"):
            path = os.path.join(mdir, folder, "state.json")
            if os.path.exists(path):
                with open(path) as f:
                    rows[os.path.basename(mdir)] = _metric_rows(json.load(f)["record"]["per_period"])
                break
    return rows


def _metric_rows(rows: list[dict]) -> dict:
    return {str(r["iteration"]): [r["auc"], r["logloss"]] for r in rows}


def snapshot(command: str, work: str) -> dict:
    """The committed results under ``work``: ``{"metrics": {unit: {key: [auc, logloss]}}, "versions": {...}}``."""
    if command == "bench":
        committed = _state_rows(os.path.join(work, "out"))
        results = os.path.join(work, "out", "results.json")
        if os.path.exists(results):  # the final report (written atomically) agrees with the states
            with open(results) as f:
                methods = json.load(f)["methods"]
            committed.update({m: _metric_rows(s["per_period"]) for m, s in methods.items()})
        return {"metrics": committed, "versions": {}}
    if command == "export":
        return {"metrics": {}, "versions": versions(os.path.join(work, "models", "asmg"))}
    root = os.path.join(work, "root")
    metrics = {}
    if os.path.exists(os.path.join(root, "metadata.sqlite")):
        from pipeline.metrics_report import metrics_rows

        for span, row in metrics_rows(os.path.join(root, "metadata.sqlite")).items():
            metrics[str(span)] = {
                k: [row[k]["auc"], row[k]["logloss"]] for k in ("served", "iu", "generated") if row.get(k)
            }
    return {"metrics": metrics, "versions": versions(os.path.join(root, "serving", "asmg"))}


def temporaries(work: str) -> list[str]:
    """Leftover temporary files and folders (the patterns ``asmg_tf.locking.sweep_temporaries`` removes)."""
    found = []
    for parent, dirs, files in os.walk(work):
        for name in dirs + files:
            if name.startswith(".tmp-") or (name.startswith(".") and name.endswith(".tmp")):
                found.append(os.path.join(parent, name))
            elif name.startswith("tmp") and name.endswith(".npz"):
                found.append(os.path.join(parent, name))
    return found


def folder_bytes(work: str) -> int:
    """Bytes of the files under ``work`` (its command log aside): what a rerun leaves, against the reference's."""
    total = 0
    for parent, _, files in os.walk(work):
        for name in files:
            if name != "command.log":
                total += os.path.getsize(os.path.join(parent, name))
    return total


def _close(a: dict, b: dict) -> bool:
    """Metrics of two snapshots equal within the float tolerance (same units, same keys)."""
    if a.keys() != b.keys():
        return False
    for unit in a:
        x, y = a[unit], b[unit]
        if x.keys() != y.keys():
            return False
        for key in x:
            (auc1, ll1), (auc2, ll2) = x[key], y[key]
            if not (math.isclose(auc1, auc2, abs_tol=AUC_TOL) and math.isclose(ll1, ll2, abs_tol=LOGLOSS_TOL)):
                return False
    return True


def max_diff(a: dict, b: dict) -> float | None:
    """The largest AUC / log-loss difference between two snapshots' metrics (None when their units differ)."""
    try:
        return max((abs(x - y) for u in a for k in a[u] for x, y in zip(a[u][k], b[u][k])), default=0.0)
    except KeyError:
        return None


def lost(before: dict, after: dict) -> list[str]:
    """Committed units of ``before`` (right after the kill) missing or changed in ``after`` (after the rerun)."""
    out = [f"version {v}" for v, d in before["versions"].items() if after["versions"].get(v) != d]
    for unit, rows in before["metrics"].items():
        for key, value in rows.items():
            if after["metrics"].get(unit, {}).get(key) != value:
                out.append(f"{unit}/{key}")
    return out


# -- the harness ------------------------------------------------------------------------------------------------
def trial(
    command: str, work: str, kill_after: float, reference: dict, weights: str | None, reference_bytes: int = 0
) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    log = os.path.join(work, "command.log")
    args = command_args(command, work, weights)
    _, seconds, killed = run(args, kill_after, log)
    record = {"kill_after": round(kill_after, 2), "killed": killed}
    try:
        before = snapshot(command, work)  # raises on a half-written version
    except AssertionError as e:
        return {**record, "survived": False, "identical": False, "close": False, "lost": [str(e)], "temporaries": 0}
    code, rerun_seconds, _ = run(args, None, log)
    after = snapshot(command, work)
    exists_refusal = command == "export" and code == 1 and "7" in before["versions"]
    record.update(
        rerun_seconds=round(rerun_seconds, 1),
        rerun_code=code,
        survived=code == 0 or exists_refusal,
        identical=after == reference,
        close=_close(after["metrics"], reference["metrics"])
        and after["versions"].keys() == reference["versions"].keys(),
        lost=lost(before, after),
        max_metric_diff=max_diff(after["metrics"], reference["metrics"]),
        temporaries=len(temporaries(work)),
        # what the killed run left beyond the reference's files (e.g. a failed TFX execution's outputs)
        extra_bytes=folder_bytes(work) - reference_bytes,
    )
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--command", choices=("bench", "export", "backfill"), required=True)
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default="runs/chaos", help="scratch folder (a subfolder per command)")
    p.add_argument("--deadline", type=float, help="stop starting trials after this many seconds")
    a = p.parse_args(argv)
    base = os.path.abspath(os.path.join(a.work, a.command))
    os.makedirs(base, exist_ok=True)
    weights = None
    if a.command == "export":  # real IU weights from a tiny bench (its cache), made once
        src = os.path.join(os.path.abspath(a.work), "export-weights")
        found = glob.glob(os.path.join(src, "cache", "*", "train-*", "iu", "weights_*.npz"))
        if not found:
            code, _, _ = run(command_args("bench", src))
            found = glob.glob(os.path.join(src, "cache", "*", "train-*", "iu", "weights_*.npz"))
            assert code == 0 and found, f"could not make weights under {src}"
        weights = sorted(found)[-1]
    ref_dir = os.path.join(base, "reference")
    shutil.rmtree(ref_dir, ignore_errors=True)
    os.makedirs(ref_dir)
    code, ref_seconds, _ = run(command_args(a.command, ref_dir, weights), None, os.path.join(ref_dir, "command.log"))
    if code != 0:
        print(f"the uninterrupted {a.command} failed (exit {code}); see {ref_dir}/command.log", file=sys.stderr)
        return 1
    reference = snapshot(a.command, ref_dir)
    print(f"{a.command}: reference run {ref_seconds:.1f} s", flush=True)
    start = time.perf_counter()
    results = []
    with open(os.path.join(base, "trials.jsonl"), "w") as out:
        for k in range(a.trials):
            if a.deadline and time.perf_counter() - start > a.deadline:
                break
            kill_after = random.Random(f"{a.seed}-{a.command}-{k}").uniform(0, ref_seconds)
            work = os.path.join(base, "trial")
            r = {"trial": k, **trial(a.command, work, kill_after, reference, weights, folder_bytes(ref_dir))}
            results.append(r)
            out.write(json.dumps(r) + "\n")
            out.flush()
            print(json.dumps(r), flush=True)
    summary = {
        "command": a.command,
        "seed": a.seed,
        "trials": len(results),
        "killed": sum(r["killed"] for r in results),
        "survived": sum(r["survived"] for r in results),
        "identical": sum(r["identical"] for r in results),
        "close": sum(r["close"] for r in results),
        "data_lost": sum(bool(r["lost"]) for r in results),
        "leftover_temporaries": sum(r["temporaries"] for r in results),
        "max_extra_bytes": max((r.get("extra_bytes", 0) for r in results), default=0),
        "reference_seconds": round(ref_seconds, 1),
    }
    print("SUMMARY " + json.dumps(summary), flush=True)
    ok = summary["survived"] == summary["trials"] and not summary["data_lost"] and not summary["leftover_temporaries"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
