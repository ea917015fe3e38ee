"""The serving functions: the signatures of an exported version, traced around the Keras model.

The model is the OOV-extended copy (each table has one extra last row, see ``serving.schema``), so every signature
runs the model's own ``call``: ids are first mapped into ``[0, n]`` (``n`` = the OOV row), then fed to it.
Only core TensorFlow ops appear (ParseExampleV2, ragged-to-dense, gathers, the MLP, TopKV2).
"""

from __future__ import annotations

import tensorflow as tf

from asmg_tf.models import features as F
from serving import schema as S


def map_ids(ids: tf.Tensor, n: int) -> tf.Tensor:
    """Ids outside ``[0, n)`` -> ``n`` (the OOV row); int32 for the embedding lookups."""
    ids = tf.convert_to_tensor(ids, tf.int64)
    return tf.cast(tf.where((ids >= 0) & (ids < n), ids, tf.constant(n, tf.int64)), tf.int32)


def map_categories(cats: tf.Tensor, n: int) -> tf.Tensor:
    """Category ids: negative ones stay -1 (padding, ignored), ids >= ``n`` -> ``n`` (the OOV row)."""
    cats = tf.convert_to_tensor(cats, tf.int64)
    cats = tf.where(cats < 0, tf.constant(-1, tf.int64), tf.minimum(cats, n))
    return tf.cast(cats, tf.int32)


class ServingFunctions:
    """Builds the signatures of one export as concrete functions (eager mode; variables are captured).

    Args:
        model: the OOV-extended ranker (tables of ``n + 1`` rows), built, holding the weights to serve.
        num_users, num_items, num_categories: the *trained* table sizes ``n``.
        item_categories: int32 ``tf.Variable`` ``[num_items + 1, C]`` (last row all -1), None without categories.
    """

    def __init__(self, model, num_users: int, num_items: int, num_categories: int, item_categories=None):
        if (num_categories > 0) != (item_categories is not None):
            raise ValueError("a model with categories needs the item -> categories table, and only then")
        self.model = model
        self.num_users, self.num_items, self.num_categories = num_users, num_items, num_categories
        self.item_categories = item_categories

    # -- the shared path: raw ids -> model features -> logits ------------------------------------------------------
    def logits(self, user, item, hist, hist_len, item_cats=None, hist_cats=None) -> tf.Tensor:
        """Logits ``[B]`` for int64 ids of any range (OOV mapped); categories from the table when not given."""
        hist = tf.convert_to_tensor(hist, tf.int64)
        max_len = tf.shape(hist, out_type=tf.int64)[1]
        features = {
            F.USER: map_ids(user, self.num_users),
            F.ITEM: map_ids(item, self.num_items),
            F.HIST: map_ids(hist, self.num_items),
            F.HIST_LEN: tf.cast(tf.clip_by_value(tf.cast(hist_len, tf.int64), 0, max_len), tf.int32),
        }
        if self.num_categories:
            if item_cats is None:  # the table holds valid ids already (-1 padding, OOV item row all -1)
                features[F.ITEM_CATS] = tf.gather(self.item_categories, features[F.ITEM])
                features[F.HIST_CATS] = tf.gather(self.item_categories, features[F.HIST])
            else:
                features[F.ITEM_CATS] = map_categories(item_cats, self.num_categories)
                features[F.HIST_CATS] = map_categories(hist_cats, self.num_categories)
        return self.model(features, training=False)

    def parse_examples(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        """Serialized tf.Examples -> ``user``, ``item`` [B], ``hist`` [B, MAX_HIST] and ``hist_len`` [B]."""
        parsed = tf.io.parse_example(
            serialized,
            {
                S.USER: tf.io.FixedLenFeature([], tf.int64),
                S.ITEM: tf.io.FixedLenFeature([], tf.int64),
                S.HIST: tf.io.RaggedFeature(tf.int64, row_splits_dtype=tf.int64),
            },
        )
        hist = parsed[S.HIST]
        return {
            S.USER: parsed[S.USER],
            S.ITEM: parsed[S.ITEM],
            S.HIST: hist.to_tensor(default_value=0, shape=[None, S.MAX_HIST]),
            S.HIST_LEN: tf.minimum(hist.row_lengths(), S.MAX_HIST),
        }

    # -- the signatures --------------------------------------------------------------------------------------------
    def signatures(self) -> dict:
        """``{name: ConcreteFunction}`` for all of ``schema.SIGNATURES``; input names are the signature keys."""
        spec = tf.TensorSpec
        ids = lambda name: spec([None], tf.int64, name=name)  # noqa: E731
        matrix = lambda name: spec([None, None], tf.int64, name=name)  # noqa: E731

        def predict_examples(examples):
            logit = self.logits(**self.parse_examples(examples))
            return {S.PROBABILITY: tf.sigmoid(logit), S.LOGIT: logit}

        def classify(inputs):
            prob = tf.sigmoid(self.logits(**self.parse_examples(inputs)))
            classes = tf.tile(tf.constant([["0", "1"]]), tf.stack([tf.shape(prob)[0], 1]))
            return {S.SCORES: tf.stack([1.0 - prob, prob], axis=1), S.CLASSES: classes}

        def regress(inputs):
            return {S.REGRESS_OUTPUTS: tf.sigmoid(self.logits(**self.parse_examples(inputs)))}

        def rank(user, hist, hist_len, candidates, k):
            item_ids, scores = self._rank(user, hist, hist_len, candidates, k)
            return {S.ITEM_IDS: item_ids, S.SCORES: scores}

        raw_specs = [ids(S.USER), ids(S.ITEM), matrix(S.HIST), ids(S.HIST_LEN)]
        if self.num_categories:

            def predict_raw(user, item, hist, hist_len, item_cats, hist_cats):
                logit = self.logits(user, item, hist, hist_len, item_cats, hist_cats)
                return {S.PROBABILITY: tf.sigmoid(logit), S.LOGIT: logit}

            raw_specs += [matrix(S.ITEM_CATS), spec([None, None, None], tf.int64, name=S.HIST_CATS)]
        else:

            def predict_raw(user, item, hist, hist_len):
                logit = self.logits(user, item, hist, hist_len)
                return {S.PROBABILITY: tf.sigmoid(logit), S.LOGIT: logit}

        examples = spec([None], tf.string, name=S.EXAMPLES)
        inputs = spec([None], tf.string, name=S.CLASSIFY_INPUTS)
        trace = lambda fn, *specs: tf.function(fn, input_signature=list(specs), autograph=False).get_concrete_function()  # noqa: E731
        return {
            S.DEFAULT_SIGNATURE: trace(predict_examples, examples),
            S.RAW_SIGNATURE: trace(predict_raw, *raw_specs),
            S.RANK_SIGNATURE: trace(rank, ids(S.USER), matrix(S.HIST), ids(S.HIST_LEN), matrix(S.CANDIDATES), ids(S.K)),
            S.CLASSIFY_SIGNATURE: trace(classify, inputs),
            S.REGRESS_SIGNATURE: trace(regress, inputs),
        }

    def _rank(self, user, hist, hist_len, candidates, k):
        """Score every (row, candidate) pair, keep the top k' = min(max(k), N) per row, best first.

        Each user row is repeated N times and its history tiled, so the model's own call scores the pairs.
        """
        b = tf.shape(candidates, out_type=tf.int64)[0]
        n = tf.shape(candidates, out_type=tf.int64)[1]
        repeat = lambda t: tf.repeat(t, n, axis=0)  # noqa: E731  row r -> rows r*N .. r*N+N-1
        logit = self.logits(
            user=repeat(user), item=tf.reshape(candidates, [-1]), hist=repeat(hist), hist_len=repeat(hist_len)
        )
        prob = tf.reshape(tf.sigmoid(logit), tf.stack([b, n]))
        top = tf.clip_by_value(tf.reduce_max(tf.concat([k, [0]], 0)), 0, n)
        scores, index = tf.math.top_k(prob, k=tf.cast(top, tf.int32), sorted=True)
        return tf.gather(candidates, index, batch_dims=1), scores
