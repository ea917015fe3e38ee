"""The generator package: variable spec and weight sharing, functional substitution, row gathering (values and
gradients equal to whole-table regeneration), a second architecture, batching/loss weights, checkpointed state."""

import numpy as np
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.generator import (
    DENSE,
    TABLE,
    GeneratorState,
    MetaGenerator,
    MetaTrainer,
    UnsupportedModelError,
    loss_weights,
    model_spec,
    num_batches,
    substituted,
    touched_rows,
)
from asmg_tf.generator.meta_generator import SCALES
from asmg_tf.generator.meta_train import period_batches
from asmg_tf.models import EmbeddingMLPRanker
from asmg_tf.models import features as F
from asmg_tf.models.weights import get_weights, set_weights
from asmg_tf.training.loop import make_optimizer

USERS, ITEMS, CATS = 30, 40, 6


class TwoTower(tf.keras.Model):
    """A second architecture: logit = <user tower, item tower>, towers = embedding (+ history mean) -> Dense."""

    def __init__(self, users=USERS, items=ITEMS, dim=6, **kwargs):
        super().__init__(**kwargs)
        self.user_emb = tf.keras.layers.Embedding(users, dim, name="user_emb")
        self.item_emb = tf.keras.layers.Embedding(items, dim, name="item_emb")
        self.user_tower = tf.keras.layers.Dense(4, activation="tanh", name="user_tower")
        self.item_tower = tf.keras.layers.Dense(4, name="item_tower")

    def call(self, features):
        mask = tf.sequence_mask(features[F.HIST_LEN], tf.shape(features[F.HIST])[1], dtype=tf.float32)
        hist = tf.reduce_sum(self.item_emb(features[F.HIST]) * mask[..., None], 1) / (
            tf.reduce_sum(mask, 1)[:, None] + 1e-8
        )
        user = self.user_tower(tf.concat([self.user_emb(features[F.USER]), hist], -1))
        item = self.item_tower(self.item_emb(features[F.ITEM]))
        return tf.reduce_sum(user * item, -1)


def _ranker(cats: int = CATS) -> EmbeddingMLPRanker:
    tf.keras.utils.set_random_seed(0)
    model = EmbeddingMLPRanker(USERS, ITEMS, cats)
    model(model.example_features(2, num_cats=2))
    return model


def _two_tower() -> TwoTower:
    tf.keras.utils.set_random_seed(0)
    model = TwoTower()
    model(_batch(np.random.default_rng(0), 2))
    return model


def _batch(rng, size: int, cats: bool = True) -> dict:
    hist = rng.integers(0, ITEMS, (size, 30))
    out = {
        F.USER: rng.integers(0, USERS // 2, size),  # half the users only: gathering must matter
        F.ITEM: rng.integers(0, ITEMS, size),
        F.HIST: hist,
        F.HIST_LEN: rng.integers(0, 31, size),
        F.LABEL: rng.integers(0, 2, size).astype(np.float32),
    }
    if cats:
        out[F.ITEM_CATS] = rng.integers(-1, CATS, (size, 2))
        out[F.HIST_CATS] = rng.integers(-1, CATS, (size, 30, 2))
    return {k: tf.constant(v.astype(np.float32 if k == F.LABEL else np.int32)) for k, v in out.items()}


def _window(model, length: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = get_weights(model)
    models = [
        {k: v + 0.05 * t * rng.normal(size=v.shape).astype(np.float32) for k, v in base.items()} for t in range(length)
    ]
    return MetaGenerator.window_tensors(models, model_spec(model))


def _random_state(generator, seed=1):
    rng = np.random.default_rng(seed)
    return {k: tf.constant(rng.normal(size=s).astype(np.float32)) for k, s in generator.state_shapes().items()}


# -- spec and weight sharing -----------------------------------------------------------------------------------------
def test_spec_kinds_and_per_kind_weight_shapes():
    model = _ranker()
    specs = model_spec(model)
    kinds = {s.key: s.kind for s in specs}
    assert kinds["user_embedding/embeddings"] == TABLE
    assert kinds["item_encoder/category_embedding/embeddings"] == TABLE
    assert kinds["mlp_tower/dense_0/kernel"] == DENSE and kinds["mlp_tower/dense_2/bias"] == DENSE
    gen = MetaGenerator(specs, hidden_size=4)
    cells = {s.key: c for s, c in zip(gen.specs, gen.cells)}
    user = cells["user_embedding/embeddings"]  # one GRU per column, shared across the 30 rows
    assert user.u_z.shape == (8, 1, 4) and user.w_g.shape == (8, 4, 4) and user.w_hy.shape == (8, 4, 1)
    kernel = cells["mlp_tower/dense_0/kernel"]  # private weights per scalar of the 40x20 kernel
    assert kernel.u_z.shape == (800, 1, 4) and kernel.b_y.shape == (800, 1, 1)
    shapes = gen.state_shapes()
    assert shapes["item_encoder/item_embedding/embeddings"] == [ITEMS, 8, 4]  # a hidden state per (row, column)
    assert shapes["mlp_tower/dense_0/kernel"] == [1, 800, 4]
    # docs/method.md §3.3: 65 weights per GRU; 1,041 MLP scalars + 3 tables x 8 columns for the Tmall/ML model
    assert sum(int(np.prod(v.shape)) for v in gen.trainable_variables) == 65 * (1041 + 3 * 8)
    sobazaar = MetaGenerator(model_spec(_ranker(cats=0)))
    assert sum(int(np.prod(v.shape)) for v in sobazaar.trainable_variables) == 65 * (385 + 2 * 8)


def test_linear_generator_has_one_logit_row_per_coordinate():
    specs = model_spec(_ranker())
    gen = MetaGenerator(specs, kind="linear", window=3)
    cells = {s.key: c for s, c in zip(gen.specs, gen.cells)}
    assert cells["user_embedding/embeddings"].logits.shape == (8, 3)  # one [d, k] matrix per table
    assert cells["mlp_tower/dense_0/kernel"].logits.shape == (800, 3)
    assert not gen.has_state
    with pytest.raises(ValueError, match="fixed window"):
        MetaGenerator(specs, kind="linear")


class _ListHeld(tf.keras.layers.Layer):
    def build(self, shape):
        self.ws = [self.add_weight(name="w0", shape=[int(shape[-1]), 1])]

    def call(self, x):
        return x @ self.ws[0]


class _MyEmbedding(tf.keras.layers.Embedding):
    def call(self, inputs):
        return super().call(inputs) * 2.0


class _Tied(tf.keras.layers.Layer):
    def __init__(self, emb, **kwargs):
        super().__init__(**kwargs)
        self.emb = emb

    def build(self, shape):
        self.table = self.emb.embeddings

    def call(self, x):
        return x @ tf.transpose(self.table)


def _functional(make):
    ids = tf.keras.Input(shape=(), dtype=tf.int32)
    return tf.keras.Model(ids, make(ids))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda ids: tf.keras.layers.BatchNormalization()(tf.keras.layers.Embedding(5, 3)(ids)), "non-trainable"),
        (lambda ids: _ListHeld()(tf.keras.layers.Embedding(5, 3)(ids)), "not held as a plain attribute"),
        (lambda ids: _MyEmbedding(5, 3)(ids), "overrides Embedding.call"),
        (lambda ids: tf.keras.layers.Embedding(5, 3, sparse=True)(ids), "sparse"),
    ],
)
def test_unsupported_variable_kinds_raise_clearly(make, match):
    with pytest.raises(UnsupportedModelError, match=match):
        model_spec(_functional(make))


def test_tied_embedding_weights_raise_clearly():
    emb = tf.keras.layers.Embedding(5, 3)
    ids = tf.keras.Input(shape=(), dtype=tf.int32)
    vec = emb(ids)
    model = tf.keras.Model(ids, _Tied(emb)(vec))
    with pytest.raises(UnsupportedModelError, match="tied weights"):
        model_spec(model)


# -- substitution and row gathering ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make,cats", [(_ranker, True), (_two_tower, False)])
def test_substituted_forward_equals_an_ordinary_model_with_those_weights(make, cats):
    template, ordinary = make(), make()
    before = get_weights(template)
    specs = model_spec(template)
    gen = MetaGenerator(specs, seed=4)
    window = _window(template)
    generated = gen.generate(window, _random_state(gen))
    set_weights(ordinary, generated)
    batch = _batch(np.random.default_rng(2), 64, cats)
    with substituted(specs, generated):
        got = template(batch).numpy()
    np.testing.assert_allclose(got, ordinary(batch).numpy(), rtol=1e-5, atol=1e-6)
    for k, v in get_weights(template).items():  # the template's own variables are untouched and back in place
        np.testing.assert_array_equal(v, before[k])
    assert all(isinstance(v, tf.Variable) for s in specs for layer, attr in s.holders for v in [getattr(layer, attr)])


def test_touched_rows_are_exactly_the_looked_up_ids():
    model = _ranker()
    specs = model_spec(model)
    rng = np.random.default_rng(3)
    batches = [_batch(rng, 8), _batch(rng, 5)]
    plans = touched_rows(specs, model, batches)
    rows = {k: np.sort(v.ids.numpy()) for k, v in plans.items()}
    assert all(len(np.unique(v)) == len(v) for v in rows.values())
    users = np.unique(np.concatenate([b[F.USER].numpy() for b in batches]))
    items = np.unique(np.concatenate([np.r_[b[F.ITEM].numpy(), b[F.HIST].numpy().ravel()] for b in batches]))
    cats = np.unique(
        np.concatenate(
            [np.maximum(np.r_[b[F.ITEM_CATS].numpy().ravel(), b[F.HIST_CATS].numpy().ravel()], 0) for b in batches]
        )
    )
    np.testing.assert_array_equal(rows["user_embedding/embeddings"], users)
    np.testing.assert_array_equal(rows["item_encoder/item_embedding/embeddings"], items)
    np.testing.assert_array_equal(rows["item_encoder/category_embedding/embeddings"], cats)
    assert len(users) < USERS


def test_untrained_residual_generator_reproduces_the_newest_model():
    model = _ranker()
    gen = MetaGenerator(model_spec(model), kind="gru", window=3, seed=7, residual=True)
    window = _window(model)
    generated = gen.generate(window, _random_state(gen))
    for key, value in generated.items():
        np.testing.assert_array_equal(value, window[key][-1].numpy())
    with pytest.raises(ValueError, match="GRU generator only"):
        MetaGenerator(model_spec(model), kind="linear", window=3, residual=True)


@pytest.mark.parametrize("make,cats", [(_ranker, True), (_two_tower, False)])
@pytest.mark.parametrize("kind", ["gru", "linear", "gru_residual", "gru_normalized"])
def test_row_gather_equals_whole_table_values_and_gradients(make, cats, kind):
    model = make()
    residual, normalize = kind in ("gru_residual", "gru_normalized"), kind == "gru_normalized"
    kind = "gru" if residual else kind
    gen = MetaGenerator(model_spec(model), kind=kind, window=3, seed=7, residual=residual, normalize=normalize)
    if residual:  # a trained-looking head, so the correction is not zero
        for cell in gen.cells:
            cell.w_hy.assign(tf.random.normal(cell.w_hy.shape, stddev=0.3, seed=1))
    window = _window(model)
    state = _random_state(gen) if kind == "gru" else None
    rng = np.random.default_rng(5)
    batches = [_batch(rng, 16, cats) for _ in range(3)]
    steps, weights = ([0, 1, 2], loss_weights("linear", 3)) if kind == "gru" else ([2, 2, 2], [0.2, 0.3, 0.5])
    results = []
    for row_gather in (True, False):
        trainer = MetaTrainer(model, gen, make_optimizer(1e-2), row_gather=row_gather)
        with tf.GradientTape() as tape:
            loss = trainer.loss(window, state, batches, steps, weights)
        results.append((loss.numpy(), [g.numpy() for g in tape.gradient(loss, gen.trainable_variables)]))
    (loss_rows, grads_rows), (loss_full, grads_full) = results
    np.testing.assert_allclose(loss_rows, loss_full, rtol=1e-6)
    for a, b in zip(grads_rows, grads_full):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert sum(float(np.abs(g).sum()) for g in grads_rows) > 0


def test_normalized_generator_carries_the_state_after_reading_the_first_change():
    model = _ranker()
    gen = MetaGenerator(model_spec(model), kind="gru", window=3, seed=7, residual=True, normalize=True)
    assert gen.carry_step == 1
    window = _window(model)
    carried = gen.state_after_first_step(window, None)
    for s, cell in zip(gen.specs, gen.cells):
        _, states = cell(s.to_rows(window[s.key])[:2], scales=window[s.key + SCALES][:2])
        np.testing.assert_allclose(carried[s.key].numpy(), states[1].numpy(), rtol=1e-6, atol=1e-7)
    # from a zero state the carried state is not zero: the first change has been read
    assert all(float(tf.reduce_max(tf.abs(h))) > 0 for h in carried.values())


def test_gathered_rows_equal_the_whole_table_rows():
    model = _ranker()
    specs = model_spec(model)
    gen = MetaGenerator(specs, seed=2)
    window, state = _window(model), _random_state(gen)
    rows = touched_rows(specs, model, [_batch(np.random.default_rng(9), 10)])
    gathered = gen.outputs(window, state, rows, steps=[0, 2])
    whole = gen.outputs(window, state, None, steps=[0, 2])
    for t in (0, 2):
        for s in specs:
            if s.kind == TABLE:
                table = gathered[t][s.key]
                np.testing.assert_allclose(
                    table.rows.numpy(), tf.gather(whole[t][s.key], table.ids).numpy(), rtol=1e-6, atol=1e-7
                )
            else:
                np.testing.assert_allclose(gathered[t][s.key].numpy(), whole[t][s.key].numpy(), rtol=1e-6)


class _ReadsTableDirectly(TwoTower):
    def call(self, features):
        return super().call(features) + tf.reduce_sum(self.item_emb.embeddings)


def test_direct_table_read_fails_clearly_when_rows_are_gathered():
    model = _ReadsTableDirectly()
    model(_batch(np.random.default_rng(0), 2, False))
    gen = MetaGenerator(model_spec(model))
    trainer = MetaTrainer(model, gen, make_optimizer(1e-2), row_gather=True)
    with pytest.raises(RuntimeError, match="row_gather=False"):
        trainer.loss(_window(model), None, [_batch(np.random.default_rng(1), 4, False)], [2], [1.0])
    whole = MetaTrainer(model, gen, make_optimizer(1e-2), row_gather=False)
    assert np.isfinite(whole.loss(_window(model), None, [_batch(np.random.default_rng(1), 4, False)], [2], [1.0]))


class _LooksUpByValue(TwoTower):
    def call(self, features):
        picked = tf.cast(tf.argmax(self.user_emb(features[F.USER]), -1), tf.int32)  # ids from embedding values
        return super().call(features) + tf.reduce_sum(self.item_emb(picked), -1)


def test_lookups_that_depend_on_embedding_values_fail_clearly_when_rows_are_gathered():
    model = _LooksUpByValue()
    model(_batch(np.random.default_rng(0), 2, False))
    gen = MetaGenerator(model_spec(model), seed=3)
    trainer = MetaTrainer(model, gen, make_optimizer(1e-2), row_gather=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="differs from the recorded one"):
        trainer.loss(_window(model), None, [_batch(np.random.default_rng(1), 64, False)], [2], [1.0])


def test_meta_training_steps_lower_the_loss_on_a_second_architecture():
    model = _two_tower()
    gen = MetaGenerator(model_spec(model), seed=1)
    trainer = MetaTrainer(model, gen, make_optimizer(1e-2))
    window = _window(model)
    batches = [_batch(np.random.default_rng(j), 32, False) for j in range(3)]
    losses = [trainer.train_step(window, None, batches, [0, 1, 2], loss_weights("linear", 3)) for _ in range(30)]
    assert losses[-1] < losses[0]


# -- batching and loss weights ---------------------------------------------------------------------------------------
def test_loss_weights():
    np.testing.assert_allclose(loss_weights("linear", 3), [1 / 6, 2 / 6, 3 / 6])
    np.testing.assert_allclose(loss_weights("uniform", 4), [0.25] * 4)
    np.testing.assert_allclose(loss_weights("exp", 2), np.exp([1, 2]) / np.exp([1, 2]).sum())
    np.testing.assert_allclose(loss_weights("last", 3), [0, 0, 1])
    with pytest.raises(ValueError, match="loss weighting"):
        loss_weights("cubic", 3)


def test_every_target_period_is_cut_into_the_newest_periods_number_of_batches():
    assert num_batches(1025, 256) == 5 and num_batches(1024, 256) == 4 and num_batches(3, 256) == 1
    for size in (1000, 1030, 997):
        parts = period_batches(size, num_batches(1025, 256), np.random.default_rng(0))
        assert len(parts) == 5 and all(len(p) > 0 for p in parts)
        np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(size))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    a = period_batches(50, 3, np.random.default_rng([1, 2, 0]))
    b = period_batches(50, 3, np.random.default_rng([1, 2, 1]))
    assert not np.array_equal(a[0], b[0])  # periods shuffled independently
    with pytest.raises(ValueError, match="cannot feed"):
        period_batches(2, 3, np.random.default_rng(0))


# -- state -----------------------------------------------------------------------------------------------------------
def test_generator_state_checkpoint_round_trip(tmp_path):
    model = _ranker()
    specs = model_spec(model)

    def fresh(seed):
        gen = MetaGenerator(specs, seed=seed)
        return GeneratorState(gen, make_optimizer(1e-2), carry_state=True)

    state = fresh(1)
    assert state.initial_state() is None  # first iteration: zeros
    trainer = MetaTrainer(model, state.generator, state.optimizer)
    window = _window(model)
    batches = [_batch(np.random.default_rng(j), 8) for j in range(3)]
    for _ in range(2):
        trainer.train_step(window, state.initial_state(), batches, [0, 1, 2], loss_weights("linear", 3))
    state.set_hidden(state.generator.state_after_first_step(window))
    state.meta_steps.assign(2)
    state.last_iteration.assign(14)
    state.save(str(tmp_path / "state"))

    other = fresh(99)
    other.ensure_slots()
    other.load(str(tmp_path / "state"))
    for a, b in zip(state.variables, other.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    opt_a, opt_b = state.optimizer.variables(), other.optimizer.variables()
    assert len(opt_a) == len(opt_b) > 1
    for a, b in zip(opt_a, opt_b):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(other.optimizer.iterations.numpy()) == 2
    for k, v in state.initial_state().items():
        np.testing.assert_array_equal(other.initial_state()[k].numpy(), v.numpy())
    # both continue identically
    la = trainer.train_step(window, state.initial_state(), batches, [0, 1, 2], loss_weights("linear", 3))
    lb = MetaTrainer(model, other.generator, other.optimizer).train_step(
        window, other.initial_state(), batches, [0, 1, 2], loss_weights("linear", 3)
    )
    assert la == pytest.approx(lb, rel=1e-6)
