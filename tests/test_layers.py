"""Reusable layers: hand-computed values, config round trips, save/load round trips, use in a functional model."""

import numpy as np
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.layers import ItemEncoder, MaskedMeanPooling, MLPTower, NamedCross, TargetAttentionPooling


def test_masked_mean_pooling_by_hand():
    x = tf.constant([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [7.0, 8.0], [9.0, 9.0]]])
    out = MaskedMeanPooling()(x, tf.constant([2, 0])).numpy()
    np.testing.assert_allclose(out, [[2.0, 3.0], [0.0, 0.0]], rtol=1e-6)  # (1+3)/2, (2+4)/2; empty -> 0


def test_item_encoder_category_masked_mean_by_hand():
    enc = ItemEncoder(num_items=2, num_categories=3, embedding_dim=2)
    enc.build(None)
    enc(tf.constant([0]), tf.constant([[0, -1]]))
    enc.item_embedding.set_weights([np.array([[1.0, 1.0], [2.0, 2.0]])])
    enc.category_embedding.set_weights([np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]])])
    out = enc(tf.constant([1, 0]), tf.constant([[0, 2], [1, -1]])).numpy()
    np.testing.assert_allclose(out, [[2, 2, 2.0, 1.5], [1, 1, 0, 1]])  # mean of cats 0 and 2; only cat 1


def test_mlp_tower_relu_then_linear_by_hand():
    tower = MLPTower([2, 1])
    tower(tf.zeros([1, 2]))
    tower.dense_layers[0].set_weights([np.array([[1.0, -1.0], [1.0, -1.0]]), np.zeros(2)])
    tower.dense_layers[1].set_weights([np.array([[2.0], [3.0]]), np.array([0.5])])
    # h = relu([3, -3]) = [3, 0]; out = 3*2 + 0*3 + 0.5
    np.testing.assert_allclose(tower(tf.constant([[1.0, 2.0]])).numpy(), [[6.5]])


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="units"):
        MLPTower([])
    with pytest.raises(ValueError, match="num_items"):
        ItemEncoder(num_items=0)
    with pytest.raises(ValueError, match="category ids"):
        enc = ItemEncoder(3, 2, 4)
        enc(tf.constant([1]))


def _layer_cases():
    return [
        (MaskedMeanPooling(epsilon=1e-6), lambda: (tf.random.uniform([2, 5, 3]), tf.constant([1, 4]))),
        (
            ItemEncoder(7, 3, 4),
            lambda: (tf.constant([[1, 2], [3, 6]]), tf.constant([[[0, -1], [1, 2]], [[2, -1], [-1, -1]]])),
        ),
        (ItemEncoder(7, 0, 4), lambda: (tf.constant([1, 2, 6]),)),
        (MLPTower([6, 3, 1]), lambda: (tf.random.uniform([4, 5]),)),
        (
            TargetAttentionPooling([5], "softmax"),
            lambda: (tf.random.uniform([2, 3]), tf.random.uniform([2, 4, 3]), tf.constant([2, 0])),
        ),
        (
            TargetAttentionPooling([4, 2], "none"),
            lambda: (tf.random.uniform([3, 2]), tf.random.uniform([3, 5, 2]), tf.constant([5, 1, 3])),
        ),  # fmt: skip
        (NamedCross(projection_dim=2), lambda: (tf.random.uniform([3, 6]), tf.random.uniform([3, 6]))),
    ]


def test_target_attention_pooling_by_hand():
    """Weights are a softmax over the valid positions only; an empty history pools to zeros."""
    layer = TargetAttentionPooling([3])
    query = tf.constant([[1.0, 0.0], [0.5, 0.5]])
    keys = tf.constant([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]], [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]])
    out = layer(query, keys, tf.constant([2, 0])).numpy()
    q = np.broadcast_to(query.numpy()[:, None, :], keys.shape)
    scores = layer.scorer(tf.concat([keys, q, keys - q, keys * q], -1)).numpy()[..., 0]
    w = np.exp(scores[0, :2] - scores[0, :2].max())
    w /= w.sum()
    np.testing.assert_allclose(out[0], (w[:, None] * keys.numpy()[0, :2]).sum(0), rtol=1e-5)
    np.testing.assert_allclose(out[1], [0.0, 0.0])
    raw = TargetAttentionPooling([3], "none")
    got = raw(query, keys, tf.constant([3, 1])).numpy()
    s = raw.scorer(tf.concat([keys, q, keys - q, keys * q], -1)).numpy()[..., 0]
    np.testing.assert_allclose(got[1], s[1, 0] * keys.numpy()[1, 0], rtol=1e-5)
    with pytest.raises(ValueError, match="normalization"):
        TargetAttentionPooling([3], "sum")


def test_named_cross_has_stable_variable_names():
    """tfrs' Cross names its dense layers from global counters; two instances must name their variables alike."""
    names = []
    for _ in range(2):
        layer = NamedCross(projection_dim=2, name="cross_0")
        layer(tf.ones([1, 4]), tf.ones([1, 4]))
        names.append(sorted(v.name for v in layer.trainable_variables))
    assert names[0] == names[1] == ["cross_0/dense_u/kernel:0", "cross_0/dense_v/bias:0", "cross_0/dense_v/kernel:0"]


@pytest.mark.parametrize("layer,make_inputs", _layer_cases())
def test_config_round_trip(layer, make_inputs):
    config = tf.keras.layers.serialize(layer)
    clone = tf.keras.layers.deserialize(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    assert config["registered_name"].startswith("asmg>")


@pytest.mark.parametrize("layer,make_inputs", _layer_cases())
def test_save_load_round_trip_in_functional_model(layer, make_inputs, tmp_path):
    inputs = make_inputs()
    keras_inputs = [tf.keras.Input(shape=x.shape[1:], dtype=x.dtype) for x in inputs]
    model = tf.keras.Model(keras_inputs, layer(*keras_inputs))
    expected = model(list(inputs)).numpy()
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    np.testing.assert_allclose(loaded(list(inputs)).numpy(), expected, rtol=1e-6)
    loaded_sm = None
    model.save(str(tmp_path / "sm"), save_format="tf")
    loaded_sm = tf.keras.models.load_model(str(tmp_path / "sm"))
    np.testing.assert_allclose(loaded_sm(list(inputs)).numpy(), expected, rtol=1e-6)


def test_initializers_are_independent_per_weight():
    tower = MLPTower([4, 4, 1])
    tower(tf.zeros([1, 4]))
    k0, k1 = tower.dense_layers[0].kernel.numpy(), tower.dense_layers[1].kernel.numpy()
    assert not np.allclose(k0, k1)
