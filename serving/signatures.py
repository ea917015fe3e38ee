"""The serving functions: the signatures of an exported version, traced around the Keras model.

The model is the OOV-extended copy (each table has one extra last row, see ``serving.schema``). Every signature takes
the callers' raw ids and maps them to rows in the graph (``serving.id_lookup``: tables initialised from the
version's ``assets/``), checks what it was sent (INVALID_ARGUMENT naming the feature), then runs the model's own
``call``. Only core TensorFlow ops appear (ParseExampleV2 and, for integer ids in tf.Examples, DecodeProtoV2; hash-table
lookups, ragged-to-dense, gathers, the MLP, TopKV2).
"""

from __future__ import annotations

import tensorflow as tf

from asmg_tf.models import features as F
from serving import schema as S
from serving.example_ids import parse_ids
from serving.id_lookup import Checks, IdLookup


class ServingFunctions:
    """Builds the signatures of one export as concrete functions (eager mode; variables and tables are captured).

    Args:
        model: the OOV-extended ranker (tables of ``n + 1`` rows), built, holding the weights to serve.
        users, items: the raw-id lookups of the trained tables (``n`` rows each; unknown ids -> row ``n``).
        item_categories: int32 ``tf.Variable`` ``[num_items + 1, C]`` (last row all -1), None without categories.
    """

    def __init__(self, model, users: IdLookup, items: IdLookup, item_categories=None):
        if model.has_categories != (item_categories is not None):
            raise ValueError("a model with categories needs the item -> categories table, and only then")
        self.model, self.users, self.items = model, users, items
        self.item_categories = item_categories

    # -- the shared path: raw ids -> model features -> logits ------------------------------------------------------
    def logits(self, user, item, hist, hist_len, checks: Checks, item_feature: str = S.ITEM) -> tf.Tensor:
        """Logits ``[B]`` of raw ids: ``user``, ``item`` [B], ``hist`` [B, L] (entries past ``hist_len`` are
        padding, any value, never looked up), ``hist_len`` [B] in ``[0, min(L, MAX_HIST)]``."""
        hist = tf.convert_to_tensor(hist)
        hist_len = tf.cast(hist_len, tf.int64)
        width = tf.shape(hist, out_type=tf.int64)[1]
        checks.require(hist_len >= 0, f"{S.HIST_LEN}: negative history length", hist_len)
        checks.require(hist_len <= width, f"{S.HIST_LEN}: longer than the {S.HIST} row it describes", hist_len)
        hist = tf.RaggedTensor.from_tensor(hist, lengths=tf.clip_by_value(hist_len, 0, width))
        return self.ragged_logits(user, item, hist, checks, item_feature)

    def ragged_logits(self, user, item, hist: tf.RaggedTensor, checks: Checks, item_feature: str = S.ITEM):
        """Logits ``[B]`` of raw ids with ragged histories (at most ``MAX_HIST`` each, most recent first)."""
        hist_len = hist.row_lengths()
        checks.require(hist_len <= S.MAX_HIST, f"{S.HIST}: at most {S.MAX_HIST} ids per row (most recent first)",
                       hist_len)  # fmt: skip
        hist_rows = hist.with_flat_values(self.items.rows(hist.flat_values, S.HIST, checks))
        features = {
            F.USER: self.users.rows(user, S.USER, checks),
            F.ITEM: self.items.rows(item, item_feature, checks),
            # padded to MAX_HIST with row 0, as in training (the model reads only the first hist_len entries)
            F.HIST: hist_rows.to_tensor(default_value=0, shape=[None, S.MAX_HIST]),
            F.HIST_LEN: tf.cast(tf.minimum(hist_len, S.MAX_HIST), tf.int32),
        }
        if self.item_categories is not None:  # the table holds valid ids already (-1 padding, OOV item row all -1)
            features[F.ITEM_CATS] = tf.gather(self.item_categories, features[F.ITEM])
            features[F.HIST_CATS] = tf.gather(self.item_categories, features[F.HIST])
        return self.model(features, training=False)

    def parse_examples(self, serialized: tf.Tensor, checks: Checks) -> dict:
        """Serialized tf.Examples -> ``user``, ``item`` [B] and ragged ``hist`` [B, None] (ids as text).

        Ids are ``bytes_list``; in an integer space ``int64_list`` is accepted too (``serving.example_ids``)."""
        integer = self.users.integer or self.items.integer
        parsed = parse_ids(serialized, (S.USER, S.ITEM, S.HIST), int64=integer)
        example = tf.range(tf.size(serialized, out_type=tf.int64))
        for feature, lookup in ((S.USER, self.users), (S.ITEM, self.items), (S.HIST, self.items)):
            _, from_int64, from_float = parsed[feature]
            if integer:
                checks.require(~from_float, f"{feature}: ids are bytes or int64, not float (example)", example)
            if integer and not lookup.integer:
                message = f"{feature}: this model has string {lookup.space[:-1]} ids; send bytes, not int64 (example)"
                checks.require(~from_int64, message, example)
        for feature in (S.USER, S.ITEM):
            count = parsed[feature][0].row_lengths()
            checks.require(tf.equal(count, 1), f"{feature}: one id per example is required, got", count)
        one = lambda feature: tf.reshape(parsed[feature][0].to_tensor("", shape=[None, 1]), [-1])  # noqa: E731
        return {S.USER: one(S.USER), S.ITEM: one(S.ITEM), S.HIST: parsed[S.HIST][0]}

    def _from_examples(self, serialized: tf.Tensor) -> tf.Tensor:
        checks = Checks()
        return checks.guard(self.ragged_logits(**self.parse_examples(serialized, checks), checks=checks))

    # -- the signatures --------------------------------------------------------------------------------------------
    def signatures(self) -> dict:
        """``{name: ConcreteFunction}`` for all of ``schema.SIGNATURES``; input names are the signature keys."""
        spec = tf.TensorSpec
        ids = lambda name: spec([None], tf.string, name=name)  # noqa: E731
        matrix = lambda name: spec([None, None], tf.string, name=name)  # noqa: E731
        lengths = lambda name: spec([None], tf.int64, name=name)  # noqa: E731

        def predict_examples(examples):
            logit = self._from_examples(examples)
            return {S.PROBABILITY: tf.sigmoid(logit), S.LOGIT: logit}

        def classify(inputs):
            prob = tf.sigmoid(self._from_examples(inputs))
            classes = tf.tile(tf.constant([["0", "1"]]), tf.stack([tf.shape(prob)[0], 1]))
            return {S.SCORES: tf.stack([1.0 - prob, prob], axis=1), S.CLASSES: classes}

        def regress(inputs):
            return {S.REGRESS_OUTPUTS: tf.sigmoid(self._from_examples(inputs))}

        def predict_ids(user, item, hist, hist_len):
            checks = Checks()
            logit = checks.guard(self.logits(user, item, hist, hist_len, checks))
            return {S.PROBABILITY: tf.sigmoid(logit), S.LOGIT: logit}

        def rank(user, hist, hist_len, candidates, k):
            item_ids, scores = self._rank(user, hist, hist_len, candidates, k)
            return {S.ITEM_IDS: item_ids, S.SCORES: scores}

        examples = spec([None], tf.string, name=S.EXAMPLES)
        inputs = spec([None], tf.string, name=S.CLASSIFY_INPUTS)
        trace = lambda fn, *specs: tf.function(fn, input_signature=list(specs), autograph=False).get_concrete_function()  # noqa: E731
        return {
            S.DEFAULT_SIGNATURE: trace(predict_examples, examples),
            S.IDS_SIGNATURE: trace(predict_ids, ids(S.USER), ids(S.ITEM), matrix(S.HIST), lengths(S.HIST_LEN)),
            S.RANK_SIGNATURE: trace(
                rank, ids(S.USER), matrix(S.HIST), lengths(S.HIST_LEN), matrix(S.CANDIDATES), lengths(S.K)
            ),
            S.CLASSIFY_SIGNATURE: trace(classify, inputs),
            S.REGRESS_SIGNATURE: trace(regress, inputs),
        }

    def _rank(self, user, hist, hist_len, candidates, k):
        """Score every (row, candidate) pair, keep the top k' = min(max(k), N) per row, best first; the item ids
        returned are the candidates as sent.

        Each user row is repeated N times and its history tiled, so the model's own call scores the pairs.
        """
        b = tf.shape(candidates, out_type=tf.int64)[0]
        n = tf.shape(candidates, out_type=tf.int64)[1]
        checks = Checks()
        checks.require(k >= 0, f"{S.K}: negative", k)
        top = tf.clip_by_value(tf.reduce_max(tf.concat([k, [0]], 0)), 0, n)
        repeat = lambda t: tf.repeat(t, n, axis=0)  # noqa: E731  row r -> rows r*N .. r*N+N-1
        logit = self.logits(
            user=repeat(user),
            item=tf.reshape(candidates, [-1]),
            hist=repeat(hist),
            hist_len=repeat(hist_len),
            checks=checks,
            item_feature=S.CANDIDATES,
        )
        prob = tf.reshape(tf.sigmoid(checks.guard(logit)), tf.stack([b, n]))
        scores, index = tf.math.top_k(prob, k=tf.cast(top, tf.int32), sorted=True)
        return tf.gather(candidates, index, batch_dims=1), scores
