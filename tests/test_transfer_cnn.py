"""SML's transfer network: shapes per variable kind, the paper's conv2d formulation, config and save/load."""

import numpy as np
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.layers import TransferCNN


def _paper_transfer(layer: TransferCNN, prev: tf.Tensor, new: tf.Tensor) -> tf.Tensor:
    """The paper's ``transfer_emb`` written with its NHWC conv2d ops, reading the layer's weights."""
    gelu = lambda x: x * 0.5 * (1.0 + tf.math.erf(x / tf.sqrt(2.0)))  # noqa: E731
    d = prev.shape[-1]
    norm = tf.sqrt(tf.reduce_sum(prev * prev, axis=-1))
    dot = prev * new / (norm[:, None] + 1e-15)
    x = tf.stack([prev, new, dot], axis=1)[..., None]  # [R, 3, d, 1]
    out1 = gelu(tf.nn.conv2d(x, layer.filter1, strides=[1, 1, 1, 1], padding="VALID"))  # [R, 1, d, n1]
    out2 = tf.nn.conv2d(tf.transpose(out1, [0, 3, 2, 1]), layer.filter2, strides=[1, 1, 1, 1], padding="VALID")
    flat = tf.reshape(tf.transpose(gelu(out2), [0, 3, 2, 1]), [-1, layer.n2 * d])
    hidden = gelu(tf.matmul(flat, layer.fc1_kernel) + layer.fc1_bias)
    return tf.matmul(hidden, layer.fc2_kernel) + layer.fc2_bias


@pytest.mark.parametrize(
    "rows,dim,sizes",
    [
        (50, 8, (10, 5, 20)),  # an embedding table: one network shared by 50 rows of 8 columns
        (20, 9, (10, 5, 20)),  # SML-MF: [embedding, bias] rows
        (1, 288, (5, 3, 40)),  # a 24 x 12 kernel, flattened into one row
        (1, 1, (5, 3, 1)),  # the output bias: a single scalar
    ],
)
def test_shapes_and_paper_formulation(rows, dim, sizes):
    layer = TransferCNN(*sizes)
    prev, new = tf.random.normal([rows, dim], seed=1), tf.random.normal([rows, dim], seed=2)
    out = layer(prev, new)
    n1, n2, l1 = sizes
    assert out.shape == (rows, dim)
    shapes = [tuple(w.shape) for w in layer.weights]
    assert shapes == [(3, 1, 1, n1), (n1, 1, 1, n2), (n2 * dim, l1), (l1,), (l1, dim), (dim,)]
    np.testing.assert_allclose(out.numpy(), _paper_transfer(layer, prev, new).numpy(), rtol=1e-5, atol=1e-5)


def test_rows_are_independent():
    layer = TransferCNN(4, 3, 6)
    prev, new = tf.random.normal([10, 8], seed=3), tf.random.normal([10, 8], seed=4)
    full = layer(prev, new).numpy()
    np.testing.assert_allclose(layer(prev[3:5], new[3:5]).numpy(), full[3:5], rtol=1e-6)


def test_glorot_scales_use_the_conv_fans():
    layer = TransferCNN(10, 5, 20)
    layer(tf.zeros([1, 8]), tf.zeros([1, 8]))
    # TF1 default Glorot on [3, 1, 1, 10]: fan_in 3, fan_out 30 -> limit sqrt(6 / 33)
    assert np.abs(layer.filter1.numpy()).max() <= np.sqrt(6 / 33) + 1e-7
    assert np.abs(layer.fc1_bias.numpy()).max() <= np.sqrt(3 / 20) + 1e-7
    other = TransferCNN(10, 5, 20)
    other(tf.zeros([1, 8]), tf.zeros([1, 8]))
    assert not np.allclose(layer.filter1.numpy(), other.filter1.numpy())  # independent initialisations


def test_invalid_arguments():
    with pytest.raises(ValueError, match="positive"):
        TransferCNN(0, 5, 20)
    with pytest.raises(ValueError, match="epsilon"):
        TransferCNN(epsilon=-1.0)


def test_config_round_trip():
    layer = TransferCNN(7, 4, 11, epsilon=1e-12, name="t")
    config = tf.keras.layers.serialize(layer)
    assert config["registered_name"] == "asmg>TransferCNN"
    clone = tf.keras.layers.deserialize(config)
    assert type(clone) is TransferCNN and clone.get_config() == layer.get_config()


def test_save_load_round_trip_in_functional_model(tmp_path):
    prev_in, new_in = tf.keras.Input((9,)), tf.keras.Input((9,))
    model = tf.keras.Model([prev_in, new_in], TransferCNN(10, 5, 20)(prev_in, new_in))
    inputs = [tf.random.normal([6, 9], seed=5), tf.random.normal([6, 9], seed=6)]
    expected = model(inputs).numpy()
    model.save(str(tmp_path / "m.keras"))
    np.testing.assert_allclose(tf.keras.models.load_model(str(tmp_path / "m.keras"))(inputs).numpy(), expected, 1e-6)
    model.save(str(tmp_path / "sm"), save_format="tf")
    np.testing.assert_allclose(tf.keras.models.load_model(str(tmp_path / "sm"))(inputs).numpy(), expected, 1e-6)
