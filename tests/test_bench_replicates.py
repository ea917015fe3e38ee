"""`asmg bench --repeats`: replicates reproduce to the last digit in a fresh process, and a multi-replicate bench
killed mid-way resumes to the same results as an uninterrupted one."""

import json
import os
import subprocess
import sys
import time

import pytest
from test_bench_stats import _replicate  # noqa: E402

import asmg_tf  # noqa: F401
from asmg_tf.bench.bench import BenchSpec
from asmg_tf.bench.replicates import DEFAULT_SEED, run_replicates
from asmg_tf.models.presets import PRESETS, TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: a small synthetic stream: 8 periods (test iterations 6-7), 2 pretraining epochs
TINY = ["--num-periods", "8", "--pretrain-epochs", "2", "--synthetic", "num_users=300", "--synthetic", "num_items=200"]
METHODS = "iu,asmg_gru_multi"


def _read(out) -> dict:
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def test_default_seed_is_the_presets():
    assert DEFAULT_SEED == TrainConfig().seed and all(c.seed == DEFAULT_SEED for c in PRESETS.values())


def test_replicates_get_their_own_seed_folder_and_optionally_their_own_sample_seed(tmp_path):
    seen = []

    def run_one(spec):  # what a replicate is given; its result as run_methods writes it
        seen.append((spec.model_seed, spec.sample_seed, spec.out))
        result = _replicate(
            spec.model_seed, {"iu": [0.5, 0.8, 0.8], "gen": [0.5, 0.81, 0.8 + (spec.model_seed or 0) / 1000]}
        )
        result["config"] = {"seed": spec.model_seed}
        return result

    spec = BenchSpec(methods=("iu", "gen"), out=str(tmp_path), vary_sample_seed=True, quiet=True)
    summary, done = run_replicates(spec, [3, 5], run_one)
    assert seen == [(3, 1234, str(tmp_path / "seed-3")), (5, 1235, str(tmp_path / "seed-5"))]
    assert summary["replicates_setup"]["sample_seeds"] == [1234, 1235]
    assert summary["replicates_setup"]["vary_sample_seed"] is True
    assert (tmp_path / "results.json").exists() and (tmp_path / "replicates.csv").read_text().count("\n") == 5
    seen.clear()
    run_replicates(BenchSpec(methods=("iu", "gen"), out=str(tmp_path / "one"), quiet=True), [None], run_one)
    assert seen == [(None, 1234, str(tmp_path / "one"))]  # one replicate: today's layout, no seed folder


def _bench(out, cache, *extra: str) -> list[str]:
    return [sys.executable, "-m", "asmg_cli", "bench", *TINY, "--methods", METHODS, "--repeats", "2", "--out", str(out),
            "--cache-dir", str(cache), "--quiet", *extra]  # fmt: skip


@pytest.mark.slow
def test_replicates_reproduce_to_the_last_digit_and_resume_after_a_kill(tmp_path):
    """A 2-replicate bench, run clean; the same bench in a fresh process with an empty cache of its own (pretraining,
    the IU chain and meta-training all run again), killed (SIGKILL) once its first replicate is done, then run again:
    every replicate's every per-period AUC and LogLoss equals the clean run's, the finished replicate is not rerun."""
    clean = subprocess.run(_bench(tmp_path / "clean", tmp_path / "cache-a"), capture_output=True, text=True, cwd=ROOT)
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert "ΔAUC vs iu" in clean.stdout and "t-interval" in clean.stdout

    out = tmp_path / "killed"
    first = out / f"seed-{DEFAULT_SEED}"
    proc = subprocess.Popen(_bench(out, tmp_path / "cache-b"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT)  # fmt: skip
    deadline = time.monotonic() + 600
    while not (out / "results.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the summary appears when replicate 1 is complete
    proc.kill()
    proc.wait()
    partial = _read(out)
    assert partial["replicates_setup"]["count"] == 1, "the kill came too late: replicate 2 had already finished"
    stamps = {p: p.stat().st_mtime_ns for p in first.glob("methods/*/progress.json")}

    resumed = subprocess.run(_bench(out, tmp_path / "cache-b"), capture_output=True, text=True, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in first.glob("methods/*/progress.json")} == stamps  # not rerun

    a, b = _read(tmp_path / "clean"), _read(out)
    for method in METHODS.split(","):
        assert a["methods"][method]["replicates"] == b["methods"][method]["replicates"]
        for seed in (DEFAULT_SEED, DEFAULT_SEED + 1):
            rows_a = _read(tmp_path / "clean" / f"seed-{seed}")["methods"][method]["per_period"]
            rows_b = _read(out / f"seed-{seed}")["methods"][method]["per_period"]
            assert [(r["iteration"], r["auc"], r["logloss"]) for r in rows_a] == [
                (r["iteration"], r["auc"], r["logloss"]) for r in rows_b
            ]
    d = b["methods"]["asmg_gru_multi"]["diff_vs_iu"]
    assert d == a["methods"]["asmg_gru_multi"]["diff_vs_iu"]
    assert len(d["per_replicate"]) == 2 and d["ci95"][0] <= d["mean"] <= d["ci95"][1]
    assert b["reproducible_rerun"] is True and b["config"]["seed"] == [DEFAULT_SEED, DEFAULT_SEED + 1]
    assert (out / "auc_per_period.png").stat().st_size > 10_000
    assert (out / "replicates.csv").read_text().count("\n") == 1 + 2 * 2
