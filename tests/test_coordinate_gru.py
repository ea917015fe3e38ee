"""CoordinateGRU and ConvexCombination: NumPy reference (values and gradients), init scales, configs, save/load."""

import numpy as np
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.layers import ConvexCombination, CoordinateGRU
from asmg_tf.layers.coordinate_gru import change_scales

NAMES = ("u_z", "u_r", "u_g", "w_z", "w_r", "w_g", "w_hy", "b_y")


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _np_step(w, x, h):
    """docs/method.md §3.3 in NumPy, coordinate-major: x [P, R], h [P, R, H]; returns h', y and the intermediates."""
    xe = x[:, :, None]
    z = _sigmoid(xe * w["u_z"] + h @ w["w_z"])
    r = _sigmoid(xe * w["u_r"] + h @ w["w_r"])
    q = r * h
    g = np.tanh(xe * w["u_g"] + q @ w["w_g"])
    h_new = (1 - z) * h + z * g
    y = (h_new @ w["w_hy"])[..., 0] + w["b_y"][..., 0]
    return h_new, y, (z, r, q, g)


def _np_step_grads(w, x, h, c_y, c_h):
    """Hand-derived backward of L = sum(c_y * y) + sum(c_h * h') w.r.t. the weights and x."""
    h_new, _, (z, r, q, g) = _np_step(w, x, h)
    tr = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731
    xe = x[:, :, None]
    dh_new = c_h + c_y[:, :, None] * tr(w["w_hy"])  # [P, R, H]
    grads = {"b_y": c_y.sum(1)[:, None, None], "w_hy": tr(h_new) @ c_y[:, :, None]}
    dz, dg = dh_new * (g - h), dh_new * z
    da_g = dg * (1 - g**2)
    grads["u_g"] = (xe * da_g).sum(1, keepdims=True)
    grads["w_g"] = tr(q) @ da_g
    dr = (da_g @ tr(w["w_g"])) * h
    da_r = dr * r * (1 - r)
    grads["u_r"] = (xe * da_r).sum(1, keepdims=True)
    grads["w_r"] = tr(h) @ da_r
    da_z = dz * z * (1 - z)
    grads["u_z"] = (xe * da_z).sum(1, keepdims=True)
    grads["w_z"] = tr(h) @ da_z
    dx = (da_z * w["u_z"] + da_r * w["u_r"] + da_g * w["u_g"]).sum(-1)
    return grads, dx


def _gru(p, hidden, seed=3, dtype="float64"):
    gru = CoordinateGRU(p, hidden, seed=seed, dtype=dtype)
    gru.build(None)
    return gru


def test_forward_matches_numpy_reference_over_steps():
    p, rows, hidden, steps = 5, 7, 4, 3
    gru = _gru(p, hidden)
    w = {n: getattr(gru, n).numpy() for n in NAMES}
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(steps, rows, p))
    h0 = rng.normal(size=(rows, p, hidden))
    ys, hs = gru(tf.constant(xs), tf.constant(h0))
    h = np.transpose(h0, [1, 0, 2])
    for t in range(steps):
        h, y, _ = _np_step(w, xs[t].T, h)
        np.testing.assert_allclose(ys[t].numpy(), y.T, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(hs[t].numpy(), np.transpose(h, [1, 0, 2]), rtol=1e-10, atol=1e-12)


def test_gradients_match_hand_derived_numpy_backward():
    p, rows, hidden = 4, 6, 3
    gru = _gru(p, hidden)
    w = {n: getattr(gru, n).numpy() for n in NAMES}
    rng = np.random.default_rng(1)
    x, h0 = rng.normal(size=(rows, p)), rng.normal(size=(rows, p, hidden))
    c_y, c_h = rng.normal(size=(rows, p)), rng.normal(size=(rows, p, hidden))
    x_t, h0_t = tf.constant(x[None]), tf.constant(h0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x_t, h0_t])
        ys, hs = gru(x_t, h0_t)
        loss = tf.reduce_sum(ys[0] * c_y) + tf.reduce_sum(hs[0] * c_h)
    expected, dx = _np_step_grads(w, x.T, np.transpose(h0, [1, 0, 2]), c_y.T, np.transpose(c_h, [1, 0, 2]))
    for n in NAMES:
        np.testing.assert_allclose(tape.gradient(loss, getattr(gru, n)).numpy(), expected[n], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tape.gradient(loss, x_t).numpy()[0], dx.T, rtol=1e-9, atol=1e-12)
    assert tape.gradient(loss, h0_t) is None  # truncated BPTT: nothing flows into the initial state


def test_zero_initial_state_is_the_default():
    gru = _gru(3, 4)
    xs = tf.random.normal([2, 5, 3], dtype=tf.float64)
    ys, _ = gru(xs)
    ys0, _ = gru(xs, tf.zeros([5, 3, 4], tf.float64))
    np.testing.assert_array_equal(ys.numpy(), ys0.numpy())
    assert gru(xs, return_states=False)[1] is None


@pytest.mark.parametrize("p", [8, 800])
def test_glorot_limits_include_p_in_the_fan(p):
    hidden = 4
    gru = _gru(p, hidden, dtype="float32")
    limits = {
        "u_z": np.sqrt(6 / (p * (1 + hidden))),
        "w_z": np.sqrt(3 / (p * hidden)),
        "w_hy": np.sqrt(6 / (p * (hidden + 1))),
        "b_y": np.sqrt(3 / p),
    }
    assert gru.u_z.shape == (p, 1, hidden) and gru.w_z.shape == (p, hidden, hidden)
    assert gru.w_hy.shape == (p, hidden, 1) and gru.b_y.shape == (p, 1, 1)
    for name, limit in limits.items():
        values = np.abs(getattr(gru, name).numpy())
        assert values.max() <= limit * (1 + 1e-6)
        if values.size >= 100:  # enough draws to come close to the limit
            assert values.max() > 0.9 * limit
    assert sum(int(np.prod(v.shape)) for v in gru.weights) == 65 * p  # 12 + 48 + 4 + 1 per coordinate


def test_seeded_initialisation_is_reproducible_and_weights_differ():
    a, b = _gru(6, 4, seed=11), _gru(6, 4, seed=11)
    for n in NAMES:
        np.testing.assert_array_equal(getattr(a, n).numpy(), getattr(b, n).numpy())
    assert not np.allclose(a.w_z.numpy(), a.w_r.numpy())


def test_convex_combination_starts_as_the_mean_and_follows_softmax():
    comb = ConvexCombination(num_coords=2, window=3)
    xs = tf.constant(np.arange(12, dtype=np.float32).reshape(3, 2, 2))  # [k, R, P]
    np.testing.assert_allclose(comb(xs).numpy(), xs.numpy().mean(0), rtol=1e-6)
    comb.logits.assign([[0.0, 0.0, np.log(2.0)], [10.0, 0.0, 0.0]])
    w0 = np.array([0.25, 0.25, 0.5])
    w1 = np.exp([10.0, 0, 0]) / np.exp([10.0, 0, 0]).sum()
    expected = np.stack([np.tensordot(w0, xs.numpy()[:, :, 0], 1), np.tensordot(w1, xs.numpy()[:, :, 1], 1)], -1)
    np.testing.assert_allclose(comb(xs).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(comb.mixing_weights().numpy().sum(-1), 1.0, rtol=1e-6)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="num_coords"):
        CoordinateGRU(0)
    with pytest.raises(ValueError, match="window"):
        ConvexCombination(3, 0)
    comb = ConvexCombination(3, 2)
    with pytest.raises(ValueError, match="combines 2 models"):
        comb(tf.zeros([3, 1, 3]))


def test_residual_cell_starts_as_the_identity_and_learns_a_correction():
    gru = CoordinateGRU(6, 4, seed=3, residual=True)
    x = tf.random.normal([3, 10, 6], seed=2)
    h0 = tf.random.normal([10, 6, 4], seed=4)
    with tf.GradientTape() as tape:
        y, h = gru(x, h0)
        loss = tf.reduce_sum(tf.square(y[-1] - 1.0))
    np.testing.assert_array_equal(y.numpy(), x.numpy())  # zero head: every step outputs its own input
    assert float(tf.reduce_max(tf.abs(h))) > 0  # the hidden state still runs
    grads = dict(zip([v.name.split("/")[-1].split(":")[0] for v in gru.trainable_variables],
                     tape.gradient(loss, gru.trainable_variables)))  # fmt: skip
    assert float(tf.reduce_max(tf.abs(grads["w_hy"]))) > 0 and float(tf.reduce_max(tf.abs(grads["b_y"]))) > 0
    # with a non-zero head the output is the input plus the ordinary head
    plain = CoordinateGRU(6, 4, seed=3)
    plain.build(None)
    gru.w_hy.assign(plain.w_hy)
    gru.b_y.assign(plain.b_y)
    np.testing.assert_allclose(gru(x, h0)[0].numpy(), (plain(x, h0)[0] + x).numpy(), rtol=1e-6, atol=1e-6)


def test_extrapolating_cell_steps_along_the_newest_change():
    gru = CoordinateGRU(5, 4, seed=3, residual=True, extrapolate=True, extrapolation_scale=10.0)
    x = tf.random.normal([3, 7, 5], seed=2)
    y, _ = gru(x)
    np.testing.assert_array_equal(y.numpy(), x.numpy())  # alpha starts at zero
    gru.alpha.assign(0.25)
    y, _ = gru(x)
    expected = x.numpy().copy()
    expected[1:] += 2.5 * (x.numpy()[1:] - x.numpy()[:-1])  # scale * alpha = 2.5; step 0 has no previous model
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(gru(x)[0][-1])
    assert float(tf.abs(tape.gradient(loss, gru.alpha))) > 0
    with pytest.raises(ValueError, match="needs residual"):
        CoordinateGRU(5, 4, extrapolate=True)


def test_normalized_cell_reads_scaled_changes_and_corrects_in_the_same_units():
    gru = CoordinateGRU(5, 4, seed=3, residual=True, normalize=True)
    x = tf.random.normal([4, 7, 5], seed=2) * tf.constant([1.0, 10.0, 0.1, 3.0])[:, None, None]
    h0 = tf.random.normal([7, 5, 4], seed=4)
    y, _ = gru(x, h0)
    np.testing.assert_array_equal(y.numpy(), x.numpy())  # zero head: the identity, like the plain residual cell
    head = CoordinateGRU(5, 4, seed=3)  # same GRU weights (the seeds match), ordinary head
    head.build(None)
    gru.w_hy.assign(tf.random.normal(gru.w_hy.shape, stddev=0.5, seed=1))
    gru.b_y.assign(tf.random.normal(gru.b_y.shape, stddev=0.5, seed=5))
    head.w_hy.assign(gru.w_hy)
    head.b_y.assign(gru.b_y)
    scales = change_scales(x).numpy()
    assert scales[0] == 0 and scales[1] == pytest.approx(np.sqrt(np.mean((x[1] - x[0]).numpy() ** 2)), rel=1e-5)
    reads = np.diff(x.numpy(), axis=0) / scales[1:, None, None]
    y, states = gru(x, h0)
    y = y.numpy()
    # step 0 is context: the state is left as it was and x_0 passes through; from step 1 the cell reads changes
    np.testing.assert_array_equal(states[0].numpy(), h0.numpy())
    np.testing.assert_array_equal(y[0], x[0].numpy())
    expected = x.numpy()[1:] + scales[1:, None, None] * head(reads, h0)[0].numpy()
    np.testing.assert_allclose(y[1:], expected, rtol=1e-5, atol=1e-6)
    # no look-ahead: steps 0-1 do not depend on later models
    np.testing.assert_allclose(gru(x[:2], h0)[0].numpy(), y[:2], rtol=1e-6, atol=1e-7)
    # a variable scaled by c gives outputs scaled by c (the cell sees the same reads)
    np.testing.assert_allclose(gru(3.0 * x, h0)[0].numpy(), 3.0 * y, rtol=1e-4, atol=1e-5)
    # rows are independent given the whole variable's scales
    rows = [1, 4, 6]
    np.testing.assert_allclose(
        gru(tf.gather(x, rows, axis=1), tf.gather(h0, rows), scales=change_scales(x))[0].numpy(), y[:, rows],
        rtol=1e-6, atol=1e-7,
    )  # fmt: skip
    with pytest.raises(ValueError, match="normalize=True needs residual"):
        CoordinateGRU(5, 4, normalize=True)


def _cases():
    return [
        (
            CoordinateGRU(4, 3, seed=1),
            [tf.keras.Input(shape=(5, 4), batch_size=3), tf.keras.Input(shape=(4, 3), batch_size=5)],
        ),
        (
            CoordinateGRU(4, 3, seed=1, residual=True, extrapolate=True),
            [tf.keras.Input(shape=(5, 4), batch_size=3), tf.keras.Input(shape=(4, 3), batch_size=5)],
        ),
        (
            CoordinateGRU(4, 3, seed=1, residual=True, normalize=True),
            [tf.keras.Input(shape=(5, 4), batch_size=3), tf.keras.Input(shape=(4, 3), batch_size=5)],
        ),
        (ConvexCombination(4, 3), [tf.keras.Input(shape=(5, 4), batch_size=3)]),
    ]


@pytest.mark.parametrize("layer,inputs", _cases())
def test_config_round_trip(layer, inputs):
    config = tf.keras.layers.serialize(layer)
    clone = tf.keras.layers.deserialize(config)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    assert config["registered_name"].startswith("asmg>")


@pytest.mark.parametrize("layer,inputs", _cases())
def test_save_load_round_trip_in_functional_model(layer, inputs, tmp_path):
    out = layer(*inputs)
    model = tf.keras.Model(inputs, out)
    values = [tf.random.normal([x.shape[0], *x.shape[1:]], seed=5) for x in inputs]
    expected = [t.numpy() for t in tf.nest.flatten(model(values))]
    for path, kwargs in ((tmp_path / "m.keras", {}), (tmp_path / "sm", {"save_format": "tf"})):
        model.save(str(path), **kwargs)
        loaded = tf.keras.models.load_model(str(path))
        got = [t.numpy() for t in tf.nest.flatten(loaded(values))]
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-6)
