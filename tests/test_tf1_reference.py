"""Our Embedding&MLP and its Adam updates equal an independent TF1 graph-mode reference on MovieLens latest-small.

The reference is written here from the method notes (docs/method.md §2): placeholders, ``tf.compat.v1`` variables,
zero-padded genre lists with their lengths, masked means divided by ``length + 1e-8`` and
``tf.compat.v1.train.AdamOptimizer``, i.e. the paper's TF1 formulation, not our Keras layers. Both models start
from the same weights and see the same batches for two periods with the Adam state carried over, on real data with
what this dataset has and the others lack: movies with up to 10 of 20 genres, zero-padded histories (item 0 is a
real movie), empty histories and repeated items within a batch. docs/fidelity-movielens.md runs the paper's own
scripts for the full-scale comparison; this test keeps the equivalence it found from regressing.
"""

import numpy as np
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.data.load import load_period_set
from asmg_tf.models.presets import preset
from asmg_tf.models.weights import get_weights
from asmg_tf.training.loop import predict_logits, train_epoch
from asmg_tf.training.pretrain import new_trainable

TRAIN_PERIODS = (11, 12)
EVAL_PERIOD = 13
#: our variable name -> the reference's
NAMES = {
    "user_embedding/embeddings": "user_emb",
    "item_encoder/item_embedding/embeddings": "item_emb",
    "item_encoder/category_embedding/embeddings": "genre_emb",
    **{f"mlp_tower/dense_{k}/kernel": f"w{k}" for k in range(3)},
    **{f"mlp_tower/dense_{k}/bias": f"b{k}" for k in range(3)},
}


class TF1Reference:
    """The paper's base model and optimiser in TF1 graph mode, started from ``weights`` (our names)."""

    def __init__(self, weights: dict, genres: np.ndarray, genre_lens: np.ndarray, learning_rate: float):
        v1 = tf.compat.v1
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.u = v1.placeholder(tf.int32, [None])
            self.i = v1.placeholder(tf.int32, [None])
            self.hist = v1.placeholder(tf.int32, [None, None])
            self.hist_len = v1.placeholder(tf.int32, [None])
            self.y = v1.placeholder(tf.float32, [None])
            var = {
                NAMES[k]: v1.get_variable(NAMES[k], initializer=tf.constant(w, tf.float32)) for k, w in weights.items()
            }
            genres_t, genre_lens_t = tf.constant(genres), tf.constant(genre_lens)

            def masked_mean(x, length):  # x [..., T, H], length [...]
                mask = tf.sequence_mask(length, tf.shape(x)[-2], dtype=tf.float32)[..., None]
                return tf.reduce_sum(x * mask, -2) / (tf.cast(length, tf.float32)[..., None] + 1e-8)

            def encode(items):  # concat(item embedding, mean of its genres' embeddings)
                genre_vecs = tf.nn.embedding_lookup(var["genre_emb"], tf.gather(genres_t, items))
                genre_mean = masked_mean(genre_vecs, tf.gather(genre_lens_t, items))
                return tf.concat([tf.nn.embedding_lookup(var["item_emb"], items), genre_mean], -1)

            x = tf.concat(
                [
                    tf.nn.embedding_lookup(var["user_emb"], self.u),
                    masked_mean(encode(self.hist), self.hist_len),
                    encode(self.i),
                ],
                -1,
            )
            x = tf.nn.relu(tf.matmul(x, var["w0"]) + var["b0"])
            x = tf.nn.relu(tf.matmul(x, var["w1"]) + var["b1"])
            self.logits = tf.reshape(tf.matmul(x, var["w2"]) + var["b2"], [-1])
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=self.y, logits=self.logits))
            optimizer = v1.train.AdamOptimizer(learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8)
            params = list(var.values())
            self.train_op = optimizer.apply_gradients(zip(tf.gradients(loss, params), params))
            self.var = var
            self.slots = {k: (optimizer.get_slot(v, "m"), optimizer.get_slot(v, "v")) for k, v in var.items()}
            self.session = v1.Session(graph=self.graph)
            self.session.run(v1.global_variables_initializer())

    def feed(self, data, rows: slice) -> dict:
        return {
            self.u: data.user[rows],
            self.i: data.item[rows],
            self.hist: data.hist[rows],
            self.hist_len: data.hist_len[rows],
            self.y: data.label[rows],
        }

    def train_period(self, data, batch_size: int) -> None:
        for start in range(0, len(data), batch_size):
            self.session.run(self.train_op, self.feed(data, slice(start, start + batch_size)))

    def logits_on(self, data) -> np.ndarray:
        return self.session.run(self.logits, self.feed(data, slice(None)))


@pytest.fixture(scope="module")
def movielens_small(shared_data):
    return load_period_set(str(shared_data / "movielens-latest-small"))


def test_base_model_and_adam_equal_a_tf1_reference_on_movielens_small(movielens_small):
    periods = movielens_small
    config = preset(periods.kind)
    cats = periods.item_categories  # [items, max genres], -1 padded
    genre_lens = (cats >= 0).sum(axis=1).astype(np.int32)
    assert genre_lens.max() >= 8 and periods.num_categories == 20  # the traits this test is about
    model, optimizer = new_trainable(periods, config)
    reference = TF1Reference(get_weights(model), np.maximum(cats, 0), genre_lens, config.learning_rate)
    for t in TRAIN_PERIODS:  # two periods, one optimizer: Adam's moments and step count carry over
        data = periods.period(t)
        assert (data.hist_len == 0).any() and len(np.unique(data.item)) < len(data)
        train_epoch(model, data, cats, config.batch_size, shuffle=False)
        reference.train_period(data, config.batch_size)
    ours = get_weights(model)
    for name, ref_name in NAMES.items():
        want = reference.session.run(reference.var[ref_name])
        np.testing.assert_allclose(ours[name], want, atol=2e-6, err_msg=name)
        variable = next(v for v in model.trainable_variables if v.name.split(":")[0].endswith(name))
        m, v = reference.session.run(reference.slots[ref_name])
        np.testing.assert_allclose(optimizer.get_slot(variable, "m").numpy(), m, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(optimizer.get_slot(variable, "v").numpy(), v, atol=1e-9, err_msg=name)
    held_out = periods.period(EVAL_PERIOD)
    np.testing.assert_allclose(
        predict_logits(model, held_out, cats), reference.logits_on(held_out), rtol=1e-4, atol=1e-5
    )
