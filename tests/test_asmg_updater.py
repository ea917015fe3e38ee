"""The ASMG update methods on the protocol: every variant runs, test-then-train order, state carry-over, the IU
chain left alone, resume across processes, a second architecture (DCN) end to end, and quality on the synthetic
stream (slow)."""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.bench.runner import run_method
from asmg_tf.data.periods import HIST_LEN, PeriodData, PeriodSet, Protocol
from asmg_tf.generator.meta_train import loss_weights
from asmg_tf.models import EmbeddingMLPRanker, get_weights
from asmg_tf.models.presets import TrainConfig
from asmg_tf.updaters import METHODS, Context, make_method
from asmg_tf.updaters.asmg import VARIANTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = TrainConfig(learning_rate=1e-2, batch_size=64, pretrain_epochs=1, seed=5)


def tiny_periods(num_periods: int = 8, size: int = 256, users: int = 25, items: int = 30, seed: int = 0) -> PeriodSet:
    """Random samples with a little signal (label depends on user + item parity) and one category per item."""
    rng = np.random.default_rng(seed)
    periods = []
    for t in range(num_periods):
        user, item = rng.integers(0, users, size), rng.integers(0, items, size)
        hist = rng.integers(0, items, (size, HIST_LEN))
        label = ((user + item) % 2 == (t % 3 == 0)).astype(np.float32)
        flip = rng.random(size) < 0.2
        label[flip] = 1 - label[flip]
        periods.append(
            PeriodData(
                user.astype(np.int32),
                item.astype(np.int32),
                hist.astype(np.int32),
                rng.integers(0, HIST_LEN + 1, size).astype(np.int32),
                label,
                np.full(size, t, np.int64),
            )
        )
    cats = (np.arange(items) % 4).astype(np.int32)[:, None]
    return PeriodSet("tiny", "tmall", periods, users, items, 4, cats, Protocol.scaled(num_periods))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Periods on disk and a context whose pretrained model and IU chain are cached (shared by the tests)."""
    root = tmp_path_factory.mktemp("asmg")
    periods = tiny_periods()
    periods.save(str(root / "periods"))
    ctx = Context(periods, CONFIG, str(root / "ctx"), log=lambda m: None)
    ctx.run_iu_chain(periods.protocol.test_end)
    return root, ctx


def test_protocol_of_the_tiny_stream():
    proto = tiny_periods().protocol
    assert (proto.update_start, proto.test_start, proto.test_end) == (4, 6, 7)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_runs_and_is_registered(name, prepared, tmp_path):
    root, ctx = prepared
    assert name in METHODS
    summary = run_method(name, ctx, str(tmp_path))
    first = 4 if name == "asmg_gru_full" else 6
    assert [r["iteration"] for r in summary["per_period"]] == list(range(first, 8))
    assert np.isfinite(summary["mean_auc"]) and np.isfinite(summary["mean_logloss"])


def test_options_override_the_variant_and_are_validated(prepared):
    _, ctx = prepared
    assert make_method("asmg_gru_multi", ctx, k=2).first_iteration() == 5
    m = make_method("asmg_gru_unif", ctx, k=4, hidden_size=8, lr=0.001, batch_size=32, loss_weight="exp")
    assert (m.config.k, m.config.hidden_size, m.config.lr, m.config.batch_size) == (4, 8, 0.001, 32)
    assert m.config.loss_weight == "exp" and m.config.carry_state
    with pytest.raises(ValueError, match="unknown option"):
        make_method("asmg_gru_multi", ctx, window=3)
    with pytest.raises(ValueError, match="fixed window"):
        make_method("asmg_linear", ctx, k="full")
    with pytest.raises(ValueError, match="loss_weight"):
        make_method("asmg_gru_multi", ctx, loss_weight="square")


def test_targets_align_each_step_with_the_period_after_its_input(prepared):
    _, ctx = prepared
    multi = make_method("asmg_gru_multi", ctx)
    assert multi.window_periods(7) == [5, 6, 7]
    periods, steps, weights = multi.targets(7)
    assert periods == [6, 7, 8] and steps == [0, 1, 2]
    np.testing.assert_allclose(weights, loss_weights("linear", 3))
    assert make_method("asmg_gru_single", ctx).targets(7) == ([8], [2], [1.0])
    assert make_method("asmg_linear", ctx).targets(7) == ([8], [2], [1.0])
    full = make_method("asmg_gru_full", ctx)
    assert full.window_periods(6) == [4, 5, 6] and full.targets(6)[0] == [5, 6, 7]


def _files_digest(directory):
    h = hashlib.sha256()
    for name in sorted(os.listdir(directory)):
        if name.startswith("weights_"):
            with open(os.path.join(directory, name), "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def test_test_then_train_carry_over_and_the_iu_chain_is_read_only(prepared):
    _, ctx = prepared
    before = _files_digest(ctx.iu_dir())
    m = make_method("asmg_gru_multi", ctx)
    m.start()
    gen, state = m._state.generator, m._state
    # iteration 6: zero initial state, served with the untrained generator
    served = m.serve(6)
    assert type(served) is EmbeddingMLPRanker
    window6 = gen.window_tensors([ctx.iu_weights(t) for t in (4, 5, 6)], gen.specs)
    expected = gen.generate(window6, None)
    for k, v in get_weights(served).items():
        np.testing.assert_allclose(v, expected[k], rtol=1e-6)
    weights_before = [v.numpy() for v in gen.trainable_variables]
    m.observe(6)
    assert any(not np.allclose(a, v.numpy()) for a, v in zip(weights_before, gen.trainable_variables))
    # carried state = state after step 1 of window 6, recomputed with the updated weights
    carried = state.initial_state()
    recomputed = gen.state_after_first_step(window6, None)
    for k in carried:
        np.testing.assert_allclose(carried[k].numpy(), recomputed[k].numpy(), rtol=1e-6)
    # iteration 7 serves from that state with the weights trained through D_7 only
    served = m.serve(7)
    window7 = gen.window_tensors([ctx.iu_weights(t) for t in (5, 6, 7)], gen.specs)
    expected = gen.generate(window7, carried)
    for k, v in get_weights(served).items():
        np.testing.assert_allclose(v, expected[k], rtol=1e-6)
    assert int(state.meta_steps.numpy()) == int(np.ceil(256 / CONFIG.batch_size))
    assert _files_digest(ctx.iu_dir()) == before


RUN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import asmg_tf
    from asmg_tf.bench.runner import run_method
    from asmg_tf.data.periods import PeriodSet
    from asmg_tf.models.presets import TrainConfig
    from asmg_tf.updaters import Context

    root, out, stop_after, config = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    ctx = Context(PeriodSet.load(root + "/periods"), TrainConfig(**config), root + "/ctx", log=lambda m: None)

    def on_iteration(i, row):
        if i == stop_after:
            sys.exit(3)  # as if killed right after the period's checkpoint

    summary = run_method("asmg_gru_multi", ctx, out, options={"k": 2}, on_iteration=on_iteration)
    print(json.dumps(summary["per_period"]))
    """
)


def _run(root, out, stop_after):
    env = {**os.environ, "TF_DETERMINISTIC_OPS": "1", "TF_USE_LEGACY_KERAS": "1"}
    config = json.dumps({k: getattr(CONFIG, k) for k in CONFIG.__dataclass_fields__})
    return subprocess.run(
        [sys.executable, "-c", RUN_SCRIPT, str(root), str(out), str(stop_after), config],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _checkpoint_values(out):
    reader = tf.train.load_checkpoint(os.path.join(out, "methods", "asmg_gru_multi", "state", "ckpt"))
    names = [n for n in reader.get_variable_to_shape_map() if "OBJECT_GRAPH" not in n]
    return {n: reader.get_tensor(n) for n in names}


def test_a_run_split_across_two_processes_equals_one_uninterrupted_run(prepared, tmp_path):
    root, _ = prepared
    whole = _run(root, tmp_path / "whole", -1)
    assert whole.returncode == 0, whole.stderr[-3000:]
    first = _run(root, tmp_path / "split", 5)  # k=2: iterations 5, 6, 7; stop after 5
    assert first.returncode == 3, first.stderr[-3000:]
    second = _run(root, tmp_path / "split", -1)
    assert second.returncode == 0, second.stderr[-3000:]
    rows_whole = json.loads(whole.stdout.strip().splitlines()[-1])
    rows_split = json.loads(second.stdout.strip().splitlines()[-1])
    assert [r["iteration"] for r in rows_split] == [5, 6, 7]
    for a, b in zip(rows_whole, rows_split):
        assert a["auc"] == pytest.approx(b["auc"], abs=1e-9)
        assert a["logloss"] == pytest.approx(b["logloss"], rel=1e-6)
    values_whole, values_split = _checkpoint_values(tmp_path / "whole"), _checkpoint_values(tmp_path / "split")
    assert values_whole.keys() == values_split.keys()
    assert any("hidden" in n for n in values_whole) and any("optimizer" in n for n in values_whole)
    for n, v in values_whole.items():
        np.testing.assert_allclose(values_split[n], v, rtol=1e-6, atol=1e-7, err_msg=n)


def test_a_second_architecture_runs_unchanged_through_the_update_method(tmp_path):
    """The shipped DCN-v2 ranker (tfrs Cross layers) through the generator: its variables are read off the model."""
    from asmg_tf.models.dcn_v2 import DCNv2Ranker

    periods = tiny_periods(seed=1)
    ctx = Context(periods, dataclasses.replace(CONFIG, model="dcn_v2"), str(tmp_path / "ctx"), log=lambda m: None)
    m = make_method("asmg_gru_multi", ctx)
    m.start()
    kinds = {s.key: s.kind for s in m._state.generator.specs}
    assert {k for k, kind in kinds.items() if kind == "table"} == {
        "user_embedding/embeddings",
        "item_encoder/item_embedding/embeddings",
        "item_encoder/category_embedding/embeddings",
    } & set(kinds)
    assert sorted(k for k, kind in kinds.items() if kind == "dense" and k.startswith("cross_")) == [
        "cross_0/dense/bias",
        "cross_0/dense/kernel",
        "cross_1/dense/bias",
        "cross_1/dense/kernel",
    ]
    summary = run_method("asmg_gru_multi", ctx, str(tmp_path / "out"))
    assert [r["iteration"] for r in summary["per_period"]] == [6, 7]
    assert np.isfinite(summary["mean_auc"])
    assert type(m.serve(6)) is DCNv2Ranker


@pytest.mark.slow
def test_asmg_gru_multi_stays_within_one_percent_of_iu_on_the_synthetic_stream(tmp_path):
    """The embedded synthetic stream (2,000 users, recurring seasons) with the paper's protocol and base settings.
    Meta batch 64 gives ~94 generator steps per period (Online Retail: 98, where multi beats IU), instead of 6 at
    the Tmall preset's 1024 on this small stream."""
    from asmg_tf.data.build import make_period_set
    from asmg_tf.data.synthetic import synthetic_stream
    from asmg_tf.models.presets import preset

    periods = make_period_set(synthetic_stream(seed=1234), split="day", num_periods=31, seed=1234)
    ctx = Context(periods, preset(periods.kind), str(tmp_path / "ctx"), log=lambda m: None)
    iu = run_method("iu", ctx, str(tmp_path / "out"))
    multi = run_method("asmg_gru_multi", ctx, str(tmp_path / "out"), options={"batch_size": 64})
    assert np.isfinite(iu["mean_auc"]) and np.isfinite(multi["mean_auc"])
    # a real guard: measured -0.12 % to -0.41 % below IU here; a broken generator lands far lower (-4.8 % at the
    # paper's meta batch of 1024, where it gets 6 steps per period)
    # (the paper's "beats IU" is not reliably met here: multi and IU are within run-to-run noise on this stream,
    # multi winning the season-change periods and losing the others; so this test checks what it is named after)
    assert multi["mean_auc"] > 0.99 * iu["mean_auc"], (multi["mean_auc"], iu["mean_auc"])
