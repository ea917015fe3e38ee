"""The Embedding&MLP base model: a hand-checked forward pass and loss, paper shapes, weights I/O, SavedModel."""

import math

import numpy as np
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.models import EmbeddingMLPRanker, get_weights, set_weights
from asmg_tf.models.weights import load_weights_npz, save_weights_npz


def _features(users, items, hist, hist_len, labels=None):
    f = {
        "user": tf.constant(users, tf.int32),
        "item": tf.constant(items, tf.int32),
        "hist": tf.constant(hist, tf.int32),
        "hist_len": tf.constant(hist_len, tf.int32),
    }
    if labels is not None:
        f["label"] = tf.constant(labels, tf.float32)
    return f


def _tiny_model():
    """d = 1, no categories, a single linear layer: every number below can be checked by hand."""
    model = EmbeddingMLPRanker(num_users=2, num_items=3, embedding_dim=1, hidden_units=[1])
    model(model.example_features())
    set_weights(
        model,
        {
            "user_embedding/embeddings": np.array([[1.0], [2.0]]),
            "item_encoder/item_embedding/embeddings": np.array([[0.5], [1.0], [-1.0]]),
            "mlp_tower/dense_0/kernel": np.array([[1.0], [1.0], [1.0]]),
            "mlp_tower/dense_0/bias": np.array([0.5]),
        },
    )
    return model


def test_forward_pass_by_hand():
    model = _tiny_model()
    hist = [[0, 1] + [2] * 28, [2] * 30]
    logits = model(_features([1, 0], [2, 0], hist, [2, 0])).numpy()
    # row 0: user 2 + hist mean (0.5 + 1.0) / 2 = 0.75 + item -1 + bias 0.5 = 2.25 (padded 2s are masked out)
    # row 1: user 1 + empty history 0 + item 0.5 + bias 0.5 = 2.0
    np.testing.assert_allclose(logits, [2.25, 2.0], rtol=1e-6)


def test_loss_is_mean_sigmoid_cross_entropy_by_hand():
    model = _tiny_model()
    f = _features([1, 0], [2, 0], [[0, 1] + [0] * 28, [0] * 30], [2, 0], labels=[1.0, 0.0])
    loss = float(model.compute_loss(f))
    expected = (math.log1p(math.exp(-2.25)) + math.log1p(math.exp(2.0))) / 2  # -log s(2.25), -log(1 - s(2.0))
    assert loss == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("num_categories,kernel_shape", [(0, (24, 12)), (20, (40, 20))])
def test_paper_shapes(num_categories, kernel_shape):
    model = EmbeddingMLPRanker(100, 50, num_categories)
    model(model.example_features(2, 3))
    w = get_weights(model)
    assert w["mlp_tower/dense_0/kernel"].shape == kernel_shape
    assert [w[f"mlp_tower/dense_{k}/kernel"].shape[1] for k in range(3)] == [kernel_shape[1], kernel_shape[1] // 2, 1]
    assert w["user_embedding/embeddings"].shape == (100, 8)
    assert ("item_encoder/category_embedding/embeddings" in w) == bool(num_categories)


def test_weights_dict_round_trip_between_instances(tmp_path):
    a = EmbeddingMLPRanker(10, 20, 5)
    b = EmbeddingMLPRanker(10, 20, 5)
    f = a.example_features(4, 2)
    a(f), b(f)
    assert not np.allclose(a(f).numpy(), b(f).numpy())
    save_weights_npz(str(tmp_path / "w.npz"), get_weights(a))
    set_weights(b, load_weights_npz(str(tmp_path / "w.npz")))
    np.testing.assert_allclose(a(f).numpy(), b(f).numpy())


def test_set_weights_rejects_mismatch():
    model = _tiny_model()
    w = get_weights(model)
    w["user_embedding/embeddings"] = np.zeros((3, 1))
    with pytest.raises(ValueError, match="shape"):
        set_weights(model, w)
    with pytest.raises(ValueError, match="missing"):
        set_weights(model, {})


def test_saved_model_export_and_keras_reload(tmp_path):
    model = EmbeddingMLPRanker(10, 20, 4)
    f = model.example_features(3, 2)
    f["user"] = tf.constant([1, 2, 3])
    f["hist_len"] = tf.constant([0, 5, 30])
    expected = model(f).numpy()
    path = str(tmp_path / "sm")
    model.save(path, save_format="tf")
    loaded = tf.keras.models.load_model(path)
    np.testing.assert_allclose(loaded(f).numpy(), expected, rtol=1e-6)
    assert isinstance(loaded, EmbeddingMLPRanker)  # registered: reloads as the class, not a generic Model


def test_model_config_round_trip():
    model = EmbeddingMLPRanker(10, 20, 4, embedding_dim=4)
    clone = EmbeddingMLPRanker.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
