"""The paper's baselines (BU-w, SPMF, IncCTR, SML, SML-MF) on small real slices, and their building blocks.

Slices: the first ~3000 Online Retail purchases (implicit, one sampled negative each) and the first 6000
MovieLens-latest-small ratings (explicit labels, multi-genre items), each cut into 6 periods (pretrain 1-2,
update iterations 3-5, test iteration 5).
"""

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.bench.runner import run_method
from asmg_tf.data.build import make_period_set
from asmg_tf.data.interactions import Interactions
from asmg_tf.data.synthetic import synthetic_stream
from asmg_tf.generator.row_gather import RowTable
from asmg_tf.generator.spec import DENSE, TABLE
from asmg_tf.models import features as F
from asmg_tf.models.mf import MatrixFactorization
from asmg_tf.models.presets import preset
from asmg_tf.models.weights import get_weights, set_weights
from asmg_tf.training.loop import predict_logits
from asmg_tf.updaters import METHODS, Context, make_method
from asmg_tf.updaters.baseline_presets import BASELINE_PRESETS, baseline_options
from asmg_tf.updaters.incctr import distillation_targets
from asmg_tf.updaters.spmf import rank_probabilities, weighted_sample

NUM_PERIODS = 6


def _online_retail_slice(shared_data) -> Interactions:
    df = pd.read_parquet(shared_data / "online-retail-uci" / "online_retail.parquet")
    df = df[df.CustomerID.notna() & ~df.InvoiceNo.astype(str).str.startswith("C") & (df.Quantity > 0)]
    ev = pd.DataFrame(
        {"user": df.CustomerID.astype(int), "item": df.StockCode.astype(str), "timestamp": df.InvoiceDate}
    )
    ev["timestamp"] = ev["timestamp"].astype("int64") // 10**9
    ev = ev.drop_duplicates().sort_values("timestamp", kind="stable").head(3000)
    return Interactions("online-retail-slice", "sobazaar", ev, tie_policy="snap")


def _movielens_slice(shared_data) -> Interactions:
    root = shared_data / "movielens-latest-small"
    ratings = pd.read_csv(root / "ratings.csv").sort_values("timestamp", kind="stable").head(6000)
    movies = pd.read_csv(root / "movies.csv")
    genres = {m: g.split("|") for m, g in zip(movies.movieId, movies.genres) if m in set(ratings.movieId)}
    ev = ratings.rename(columns={"userId": "user", "movieId": "item"})[["user", "item", "timestamp", "rating"]]
    return Interactions("movielens-slice", "movielens", ev, explicit=True, item_categories=genres)


def _context(periods, tmp_path_factory, name) -> Context:
    config = preset(periods.kind).replace(pretrain_epochs=2)
    return Context(periods, config, str(tmp_path_factory.mktemp(name)), log=lambda msg: None)


@pytest.fixture(scope="module")
def or_ctx(shared_data, tmp_path_factory) -> Context:
    periods = make_period_set(_online_retail_slice(shared_data), split="count", num_periods=NUM_PERIODS)
    assert periods.protocol.update_start == 3 and periods.protocol.test_end == 5
    return _context(periods, tmp_path_factory, "or")


@pytest.fixture(scope="module")
def ml_ctx(shared_data, tmp_path_factory) -> Context:
    periods = make_period_set(_movielens_slice(shared_data), split="count", num_periods=NUM_PERIODS)
    assert periods.has_categories and 0 < np.mean(periods.period(1).label) < 1
    return _context(periods, tmp_path_factory, "ml")


@pytest.fixture(scope="module")
def syn_ctx(tmp_path_factory) -> Context:
    """A small stream with a signal the base model learns within the slice (the real slices above are too small
    to lift AUC clearly above an untrained model's: they check well-formed rows and resuming only)."""
    inter = synthetic_stream(seed=5, num_users=300, num_items=150, num_periods=NUM_PERIODS)
    periods = make_period_set(inter, split="day", num_periods=NUM_PERIODS)
    return _context(periods, tmp_path_factory, "syn")


# -- registry and presets -------------------------------------------------------------------------------------------
def test_baselines_are_registered():
    for name in ("bu3", "bu5", "bu7", "bu_full", "spmf", "incctr", "sml", "sml_mf"):
        assert name in METHODS


def test_presets_are_the_papers_and_unknown_options_fail():
    assert baseline_options("spmf", "tmall", {})["frac"] == 0.1
    assert baseline_options("spmf", "sobazaar", {})["ratio"] == 0.1
    assert baseline_options("incctr", "movielens", {})["lam"] == 0.2
    assert baseline_options("sml", "sobazaar", {})["transfer_lr"] == 1e-3
    assert baseline_options("sml_mf", "movielens", {})["base_epochs"] == 1
    assert baseline_options("sml_mf", "tmall", {"base_epochs": 2})["base_epochs"] == 2
    assert set(BASELINE_PRESETS["sml"]) == {"tmall", "sobazaar", "movielens"}
    with pytest.raises(ValueError, match="unknown option"):
        baseline_options("incctr", "tmall", {"lambda": 0.3})
    with pytest.raises(ValueError, match="dataset kind"):
        baseline_options("incctr", "lazada", {})


# -- every method on a real slice, through the resumable runner ------------------------------------------------------
def _untrained_auc(ctx, iterations) -> float:
    """Mean AUC of a freshly initialised (never trained) base model on the periods the rows were scored on."""
    model, _ = ctx.new_trainable()
    return float(np.mean([ctx.evaluate(model, i + 1)["auc"] for i in iterations]))


def _check_rows(result, ctx, margin: float | None = None):
    """Every row well-formed; with ``margin``, the method learned: its mean AUC beats an untrained model's by it."""
    rows = result["per_period"]
    assert [r["iteration"] for r in rows] == list(ctx.protocol.update_iterations)
    for r in rows:
        assert 0.0 <= r["auc"] <= 1.0 and math.isfinite(r["logloss"]) and r["seconds"] >= 0
    if margin is not None:
        learned = float(np.mean([r["auc"] for r in rows]))
        untrained = _untrained_auc(ctx, [r["iteration"] for r in rows])
        assert learned > untrained + margin, (learned, untrained)


@pytest.mark.parametrize("name", ["bu3", "bu_full", "incctr"])
def test_warm_start_methods_learn(syn_ctx, tmp_path, name):
    _check_rows(run_method(name, syn_ctx, str(tmp_path)), syn_ctx, margin=0.03)


class _Interrupt(Exception):
    pass


def _stop(i, row):
    raise _Interrupt


def _interrupted_then_resumed(name, ctx, out, options=None):
    """Stop right after the first iteration's checkpoint, then resume in a fresh method object."""
    with pytest.raises(_Interrupt):
        run_method(name, ctx, out, options=options, on_iteration=_stop)
    return run_method(name, ctx, out, options=options)


@pytest.mark.parametrize(
    "name,which,options",
    [
        ("spmf", "syn", None),
        ("sml", "syn", None),
        ("sml_mf", "or", {"pretrain_epochs": 2, "base_epochs": 2, "transfer_epochs": 2}),
        ("spmf", "ml", None),
    ],
)
def test_stateful_methods_learn_and_resume_where_they_stopped(or_ctx, ml_ctx, syn_ctx, tmp_path, name, which, options):
    ctx = {"or": or_ctx, "ml": ml_ctx, "syn": syn_ctx}[which]
    straight = run_method(name, ctx, str(tmp_path / "straight"), options=options)
    resumed = _interrupted_then_resumed(name, ctx, str(tmp_path / "resumed"), options=options)
    _check_rows(straight, ctx, margin=0.03 if which == "syn" else None)
    for a, b in zip(straight["per_period"], resumed["per_period"]):
        assert a["iteration"] == b["iteration"]
        assert a["auc"] == pytest.approx(b["auc"], abs=2e-3) and a["logloss"] == pytest.approx(b["logloss"], abs=2e-3)


def test_resume_with_other_options_fails(or_ctx, tmp_path):
    out = str(tmp_path)
    with pytest.raises(_Interrupt):
        run_method("incctr", or_ctx, out, on_iteration=_stop)
    with pytest.raises(ValueError, match="resume with the same options"):
        run_method("incctr", or_ctx, out, options={"lam": 0.5})


# -- BU -------------------------------------------------------------------------------------------------------------
def test_bu_windows_reach_into_pretraining(or_ctx):
    assert list(make_method("bu7", or_ctx).window_periods(11)) == list(range(5, 12))
    assert list(make_method("bu3", or_ctx).window_periods(11)) == [9, 10, 11]
    assert list(make_method("bu5", or_ctx).window_periods(3)) == [1, 2, 3]
    assert list(make_method("bu_full", or_ctx).window_periods(4)) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="window"):
        make_method("bu3", or_ctx, window=0)


def test_bu_warm_starts_from_its_own_previous_model(or_ctx):
    method = make_method("bu3", or_ctx)
    method.start()
    pretrained = get_weights(or_ctx.pretrained()[0])
    first = get_weights(method.serve(3))
    assert any(not np.allclose(first[k], pretrained[k]) for k in first)
    it = int(method.optimizer.iterations.numpy())
    method.serve(4)
    steps = math.ceil(sum(len(or_ctx.period(t)) for t in (2, 3, 4)) / or_ctx.config.batch_size)
    assert int(method.optimizer.iterations.numpy()) == it + steps  # one epoch over periods 2..4, Adam continued


# -- IncCTR ---------------------------------------------------------------------------------------------------------
def test_incctr_loss_by_hand():
    """z = [0.5, -1], y = [1, 0], y_soft = [0.8, 0.3], λ = 0.2. With BCE(z, t) = softplus(z) - t z:
    CE = mean(0.974077 - 0.5, 0.313262) = 0.393670;  KD = mean(0.974077 - 0.4, 0.313262 + 0.3) = 0.593670;
    L = 0.8 * 0.393670 + 0.2 * 0.593670 = 0.433670."""
    model = MatrixFactorization(num_users=1, num_items=2, embedding_dim=2)
    model(model.example_features())
    model.user_embedding.set_weights([np.array([[1.0, 0.0]])])
    model.item_embedding.set_weights([np.array([[0.5, 7.0], [-1.0, 3.0]])])
    teacher = np.log(np.array([0.8 / 0.2, 0.3 / 0.7]))
    targets = distillation_targets(np.array([1.0, 0.0], np.float32), teacher, lam=0.2)
    np.testing.assert_allclose(targets, [0.96, 0.06], rtol=1e-6)
    batch = {F.USER: tf.constant([0, 0]), F.ITEM: tf.constant([0, 1]), F.LABEL: tf.constant(targets)}
    assert float(model.compute_loss(batch)) == pytest.approx(0.433670, abs=1e-5)

    # the gradients equal those of the explicit two-term loss
    def explicit():
        z = model(batch)
        bce = lambda t: tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=t, logits=z))  # noqa: E731
        return 0.8 * bce(tf.constant([1.0, 0.0])) + 0.2 * bce(tf.constant([0.8, 0.3]))

    with tf.GradientTape(persistent=True) as tape:
        mixed, two_term = model.compute_loss(batch), explicit()
    for a, b in zip(
        tape.gradient(mixed, model.trainable_variables), tape.gradient(two_term, model.trainable_variables)
    ):
        np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b), atol=1e-6)


def test_incctr_distills_from_the_model_before_the_update(or_ctx):
    method = make_method("incctr", or_ctx)
    method.start()
    seen = {}
    original = or_ctx.train_epoch

    def spy(model, data, **kwargs):
        seen["labels"] = data.label.copy()
        return original(model, data, **kwargs)

    or_ctx.train_epoch = spy
    try:
        teacher = or_ctx.pretrained()[0]
        logits = predict_logits(teacher, or_ctx.period(3), or_ctx.item_categories)
        method.serve(3)
    finally:
        del or_ctx.train_epoch
    expected = distillation_targets(or_ctx.period(3).label, logits, 0.1)  # λ = 0.1 on Sobazaar-like data
    np.testing.assert_allclose(seen["labels"], expected, atol=1e-5)


# -- SPMF -----------------------------------------------------------------------------------------------------------
def test_rank_probabilities_favour_low_scores():
    p = rank_probabilities(np.array([3.0, 1.0, 2.0]))
    w = np.exp(np.array([0.0, 2.0, 1.0]) / 3)  # ranks: 3.0 -> 0, 2.0 -> 1, 1.0 -> 2
    np.testing.assert_allclose(p, w / w.sum())
    big = rank_probabilities(np.linspace(1, 0, 1000))
    assert big[-1] / big[0] == pytest.approx(np.exp(999 / 1000))


def test_weighted_sample_single_draw_distribution():
    rng = np.random.default_rng(0)
    p = rank_probabilities(np.array([0.9, 0.1, 0.5, 0.7, 0.3]))
    trials = 40_000
    counts = np.bincount([weighted_sample(p, 1, rng)[0] for _ in range(trials)], minlength=5)
    sigma = np.sqrt(trials * p * (1 - p))
    assert np.all(np.abs(counts - trials * p) < 5 * sigma)


def test_weighted_sample_without_replacement_inclusion():
    """Successive sampling of 2 of 4: P(j in S) = p_j + sum_{i != j} p_i p_j / (1 - p_i)."""
    rng = np.random.default_rng(1)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    expected = np.array([p[j] + sum(p[i] * p[j] / (1 - p[i]) for i in range(4) if i != j) for j in range(4)])
    trials = 30_000
    hits = np.zeros(4)
    for _ in range(trials):
        s = weighted_sample(p, 2, rng)
        assert len(set(s.tolist())) == 2
        hits[s] += 1
    sigma = np.sqrt(trials * expected * (1 - expected))
    assert np.all(np.abs(hits - trials * expected) < 5 * sigma)


def test_spmf_replay_sizes_order_and_reservoirs(or_ctx):
    method = make_method("spmf", or_ctx)
    method.start()
    pos = method.reservoirs[1.0]
    n_pos = int(sum((or_ctx.period(t).label == 1).sum() for t in (1, 2)))
    assert pos.capacity == n_pos  # frac 1.0 on Sobazaar-like data
    ids = method.replay_ids(3, np.random.default_rng(0))
    data = or_ctx.period(3)
    assert ids.size == int((data.label == 1).sum() * 0.1) + int((data.label == 0).sum() * 0.1)
    periods = method.index.period_of(ids)
    assert np.all(np.diff(periods) >= 0) and periods.max() <= 2  # sorted by period, only past samples
    replayed = method.index.gather(ids)
    assert replayed.label.sum() == int((data.label == 1).sum() * 0.1)
    assert set(ids[replayed.label == 1].tolist()) <= set(pos.values().tolist())
    steps = int(method.optimizer.iterations.numpy())
    method.serve(3)
    assert int(pos.seen.numpy()) == n_pos + int((data.label == 1).sum())
    assert int(method.optimizer.iterations.numpy()) == steps + math.ceil((ids.size + len(data)) / 256)


def test_spmf_trains_unshuffled_with_replay_first(or_ctx):
    method = make_method("spmf", or_ctx)
    method.start()
    seen = {}
    original = or_ctx.train_epoch

    def spy(model, data, **kwargs):
        seen["data"], seen["kwargs"] = data, kwargs
        return original(model, data, **kwargs)

    or_ctx.train_epoch = spy
    try:
        method.serve(3)
    finally:
        del or_ctx.train_epoch
    data, current = seen["data"], or_ctx.period(3)
    assert seen["kwargs"]["shuffle"] is False
    np.testing.assert_array_equal(data.timestamp[-len(current) :], current.timestamp)
    assert data.timestamp[: len(data) - len(current)].max() <= current.timestamp.min()


# -- SML and SML-MF -------------------------------------------------------------------------------------------------
def test_sml_transfer_shapes_per_variable_kind(or_ctx):
    method = make_method("sml", or_ctx)
    method.start()
    tm = method.transferred
    nets = method.networks.networks
    for g, net in zip(tm.groups, nets):
        (spec,) = g.specs
        if spec.kind == TABLE:
            assert g.width == spec.shape[1] == 8 and (net.n1, net.n2, net.l1) == (10, 5, 20)
        else:
            assert g.width == int(np.prod(spec.shape)) and (net.n1, net.n2) == (5, 3)
        assert net.fc1_kernel.shape == (net.n2 * g.width, net.l1) and net.fc2_kernel.shape == (net.l1, g.width)
    assert [n.l1 for g, n in zip(tm.groups, nets) if g.kind == DENSE] == [40, 20, 20, 10, 10, 1]
    weights = tm.weights()
    for spec in tm.specs:
        assert tuple(weights[spec.key].shape) == spec.shape
    batch = next(iter(F.make_dataset(or_ctx.period(3), None, 64)))
    subs = tm.substitutes(batch)
    for spec in tm.specs:
        if spec.kind == TABLE:
            assert isinstance(subs[spec.key], RowTable) and subs[spec.key].rows.shape[1] == spec.shape[1]
            assert subs[spec.key].rows.shape[0] < spec.shape[0]
        else:
            assert tuple(subs[spec.key].shape) == spec.shape


def test_sml_continues_the_pretrained_adam_state_at_its_own_rate(or_ctx):
    method = make_method("sml", or_ctx)
    method.start()
    _, pretrained_optimizer = or_ctx.pretrained()
    assert float(pretrained_optimizer.learning_rate) == pytest.approx(1e-3)  # Sobazaar-like: IU's rate
    assert float(method.optimizer.learning_rate) == pytest.approx(1e-2)  # SML's base rate, not the checkpoint's
    assert float(method.transfer_optimizer.learning_rate) == pytest.approx(1e-3)
    assert int(method.optimizer.iterations.numpy()) == int(pretrained_optimizer.iterations.numpy()) > 0


def test_sml_row_gathering_matches_whole_tables(ml_ctx):
    method = make_method("sml", ml_ctx)
    method.start()
    tm = method.transferred
    batch = next(iter(F.make_dataset(ml_ctx.period(3), ml_ctx.item_categories, 128)))
    variables = list(tm.new.values()) + list(method.networks.trainable_variables)
    results = []
    for gather in (True, False):
        tm.row_gather = gather
        with tf.GradientTape() as tape:
            loss = tm.loss(batch)
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
        results.append((float(loss), grads))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # the substituted forward pass equals a plain model holding f(W_prev, Ŵ)
    set_weights(method.serving, {k: v.numpy() for k, v in tm.weights().items()})
    plain = float(method.serving.compute_loss(batch))
    assert results[0][0] == pytest.approx(plain, rel=1e-5)


def test_sml_paper_order(or_ctx):
    """serve: Ŵ learns on D_i through f (f fixed); observe: f learns on D_{i+1} (Ŵ fixed), then Ŵ := f(prev, Ŵ)."""
    method = make_method("sml", or_ctx)
    method.start()
    tm = method.transferred
    net_before = [v.numpy() for v in method.networks.trainable_variables]
    base_before = {k: v.numpy() for k, v in tm.new.items()}
    served = get_weights(method.serve(3))
    np.testing.assert_allclose(served["mlp_tower/dense_0/kernel"], tm.weights()["mlp_tower/dense_0/kernel"], atol=1e-6)
    assert all(np.allclose(a, b.numpy()) for a, b in zip(net_before, method.networks.trainable_variables))
    assert all(np.allclose(tm.prev[k].numpy(), base_before[k]) for k in base_before)
    learned = {k: v.numpy() for k, v in tm.new.items()}
    assert any(not np.allclose(learned[k], base_before[k]) for k in learned)
    method.observe(3)
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(net_before, method.networks.trainable_variables))
    committed = {k: v.numpy() for k, v in tm.new.items()}
    for k, v in learned.items():
        tm.new[k].assign(v)
    expected = {k: v.numpy() for k, v in tm.weights().items()}  # the trained f on (W_prev, Ŵ)
    for k in committed:
        np.testing.assert_allclose(committed[k], expected[k], atol=1e-6)


def test_sml_mf_groups_embedding_and_bias(or_ctx):
    method = make_method("sml_mf", or_ctx, pretrain_epochs=1)
    method.start()
    groups = method.transferred.groups
    assert [[s.key for s in g.specs] for g in groups] == [
        ["user_embedding/embeddings", "user_bias/embeddings"],
        ["item_embedding/embeddings", "item_bias/embeddings"],
    ]
    assert all(g.width == 9 for g in groups)
    weights = method.transferred.weights()
    assert weights["user_bias/embeddings"].shape == (or_ctx.periods.num_users, 1)
    assert isinstance(method.model, MatrixFactorization)
    with open(os.path.join(or_ctx.cache_dir, "sml_mf-pretrain-lr0.01-e1", "info.json")) as f:
        info = json.load(f)
    assert len(info["epochs"]) == 1 and info["best_epoch"] == 1  # selected on period 3, the first update period
    with pytest.raises(ValueError, match="mlp_l1"):
        make_method("sml", or_ctx, mlp_l1=[1, 2]).start()


# -- the MF base model ----------------------------------------------------------------------------------------------
def test_mf_logits_by_hand_and_zero_biases():
    model = MatrixFactorization(num_users=2, num_items=2, embedding_dim=2)
    model(model.example_features())
    np.testing.assert_array_equal(model.user_bias.get_weights()[0], 0.0)
    np.testing.assert_array_equal(model.item_bias.get_weights()[0], 0.0)
    model.user_embedding.set_weights([np.array([[1.0, 2.0], [0.0, -1.0]])])
    model.item_embedding.set_weights([np.array([[3.0, 1.0], [1.0, 1.0]])])
    model.user_bias.set_weights([np.array([[0.5], [0.0]])])
    model.item_bias.set_weights([np.array([[0.0], [-2.0]])])
    out = model({F.USER: tf.constant([0, 1]), F.ITEM: tf.constant([0, 1])}).numpy()
    np.testing.assert_allclose(out, [1 * 3 + 2 * 1 + 0.5, -1 - 2.0])


def test_mf_config_round_trip():
    model = MatrixFactorization(5, 7, embedding_dim=3, name="mf")
    clone = MatrixFactorization.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert tf.keras.utils.get_registered_name(MatrixFactorization) == "asmg>MatrixFactorization"
