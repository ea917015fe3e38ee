"""IU on a small real slice, and `asmg bench` end to end: outputs, caching and resuming after a crash."""

import json
import os

import numpy as np
import pytest

import asmg_tf  # noqa: F401
from asmg_cli.main import main as asmg_main
from asmg_tf.bench.runner import run_method
from asmg_tf.data.load import load_period_set
from asmg_tf.data.periods import PeriodSet, Protocol
from asmg_tf.models.presets import preset
from asmg_tf.updaters import Context
from asmg_tf.updaters.iu import IncrementalUpdate

SLICE = Protocol(num_periods=8, pretrain_end=3, update_start=4, test_start=6, test_end=7)


@pytest.fixture(scope="module")
def retail_slice(shared_data) -> PeriodSet:
    """The first 8 of Online Retail's 31 periods, with a protocol scaled to them."""
    full = load_period_set(str(shared_data / "online-retail-uci"))
    return PeriodSet(
        name="online-retail-slice",
        kind=full.kind,
        periods=full.periods[: SLICE.num_periods],
        num_users=full.num_users,
        num_items=full.num_items,
        protocol=SLICE,
    )


def _ctx(periods, tmp_path, name="ctx"):
    return Context(periods, preset(periods.kind).replace(pretrain_epochs=2), str(tmp_path / name), log=lambda m: None)


def test_iu_chain_on_real_slice_carries_adam_state_and_learns(retail_slice, tmp_path):
    ctx = _ctx(retail_slice, tmp_path)
    model, optimizer = ctx.pretrained()
    pretrain_steps = int(optimizer.iterations.numpy())
    assert pretrain_steps > 0
    result = run_method("iu", ctx, str(tmp_path / "out"))
    assert [r["iteration"] for r in result["per_period"]] == [4, 5, 6, 7]
    assert all(0.6 < r["auc"] <= 1.0 and 0.0 < r["logloss"] < 1.0 for r in result["per_period"])
    np.testing.assert_allclose(result["mean_auc"], np.mean([r["auc"] for r in result["per_period"][2:]]))
    # each period's IU model differs from the previous one, and Adam's counter went on from pretraining
    w4, w5 = ctx.iu_weights(4), ctx.iu_weights(5)
    assert not np.allclose(w4["user_embedding/embeddings"], w5["user_embedding/embeddings"])
    model, optimizer = ctx.pretrained()
    from asmg_tf.training.state import read_checkpoint

    read_checkpoint(os.path.join(ctx.iu_dir(), "state"), model=model, optimizer=optimizer)
    batch = ctx.config.batch_size
    expected = pretrain_steps + sum(-(-len(retail_slice.period(t)) // batch) for t in range(4, 8))
    assert int(optimizer.iterations.numpy()) == expected


def test_interrupted_run_resumes_without_redoing_periods(retail_slice, tmp_path, monkeypatch):
    clean = run_method("iu", _ctx(retail_slice, tmp_path, "clean"), str(tmp_path / "clean-out"))

    ctx = _ctx(retail_slice, tmp_path, "crash")
    calls = []
    original = IncrementalUpdate.serve

    def crashing_serve(self, i):
        calls.append(i)
        if i == 6 and calls.count(6) == 1:
            raise KeyboardInterrupt("simulated crash")
        return original(self, i)

    monkeypatch.setattr(IncrementalUpdate, "serve", crashing_serve)
    with pytest.raises(KeyboardInterrupt):
        run_method("iu", ctx, str(tmp_path / "crash-out"))
    resumed = run_method("iu", ctx, str(tmp_path / "crash-out"))
    assert calls == [4, 5, 6, 6, 7]  # 4 and 5 were not served again
    for a, b in zip(clean["per_period"], resumed["per_period"]):
        assert a["iteration"] == b["iteration"]
        assert a["auc"] == pytest.approx(b["auc"], abs=2e-3)


@pytest.mark.slow
def test_bench_cli_outputs_and_cache(tmp_path, capsys):
    args = [
        "bench",
        "--methods",
        "iu",
        "--num-periods",
        "8",
        "--pretrain-epochs",
        "2",
        "--synthetic",
        "num_users=300",
        "--synthetic",
        "num_items=200",
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--quiet",
    ]
    assert asmg_main(args) == 0
    table = capsys.readouterr().out
    assert "iu" in table and "AUC" in table
    with open(tmp_path / "out" / "results.json") as f:
        results = json.load(f)
    assert results["dataset"] == "synthetic"
    assert results["test_iterations"] == [6, 7]
    iu = results["methods"]["iu"]
    assert set(iu) >= {"mean_auc", "mean_logloss", "seconds", "per_period"}
    assert [p["iteration"] for p in iu["per_period"]] == [4, 5, 6, 7]
    assert set(iu["per_period"][0]) >= {"iteration", "auc", "logloss"}
    assert 0.5 < iu["mean_auc"] <= 1.0
    assert (tmp_path / "out" / "per_period.csv").read_text().count("\n") == 5
    assert (tmp_path / "out" / "auc_per_period.png").stat().st_size > 10_000

    # a second bench on the same data reuses the periods and the pretrained model
    args[args.index(str(tmp_path / "out"))] = str(tmp_path / "out2")
    assert asmg_main(args) == 0
    with open(tmp_path / "out2" / "results.json") as f:
        again = json.load(f)
    assert again["stages"]["preprocess_seconds"] == 0.0
    assert again["stages"]["pretrain_seconds"] == results["stages"]["pretrain_seconds"]  # read from the cache
    assert again["methods"]["iu"]["mean_auc"] == pytest.approx(iu["mean_auc"])


def test_bench_rejects_unknown_method(tmp_path, capsys):
    assert asmg_main(["bench", "--methods", "iu,nope", "--out", str(tmp_path), "--quiet"]) == 2
    assert "unknown method(s) ['nope']" in capsys.readouterr().err
