"""Row gathering: find the embedding rows a batch touches, and look ids up in a table that holds only those rows.

The ids are found model-agnostically: the model runs once on the batch with every ``Embedding`` call replaced by
a recorder that keeps its ids and returns zeros, so users, target items, history items and categories are all
caught wherever the model looks them up. This requires that the ids a table is looked up with do not depend on
embedding values (true for rankers that embed their input features); ``RowTable.lookup`` checks it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import tensorflow as tf

from asmg_tf.generator.patching import patched
from asmg_tf.generator.spec import TABLE, VariableSpec


class RowPlan:
    """The rows of one table that a step needs, and where each recorded lookup finds its ids among them.

    ``ids`` [R] are the distinct ids in first-seen order; lookup n of the recording (in call order) gets the
    positions ``tf.unique`` assigned to its ids, so the real pass remaps ids in O(|ids|) with no search and no
    table-sized structure. The real pass must repeat the recorded lookups in the same order (a model's call order
    is fixed); each lookup checks that it sees the recorded ids.
    """

    def __init__(self, key: str, ids: tf.Tensor, lookups: Sequence[tuple[tf.Tensor, tf.Tensor]]):
        self.key, self.ids = key, ids
        self._lookups = list(lookups)  # (flat ids, positions in ``ids``) per recorded call
        self._next = 0

    def positions(self, flat_ids: tf.Tensor) -> tf.Tensor:
        """Positions in ``ids`` of the next lookup's ``flat_ids`` (recorded order)."""
        if self._next >= len(self._lookups):
            raise RuntimeError(
                f"{self.key}: looked up more often than while recording ({len(self._lookups)} calls); the model's "
                "lookups must not depend on embedding values; use row_gather=False for this model"
            )
        recorded, pos = self._lookups[self._next]
        self._next += 1
        check = tf.debugging.assert_equal(
            recorded,
            flat_ids,
            message=f"{self.key}: lookup {self._next} differs from the recorded one (the ids must not depend on "
            "embedding values); use row_gather=False for this model",
        )
        with tf.control_dependencies([check]):
            return tf.identity(pos)


class RowTable:
    """A table restricted to the rows of ``plan`` (``rows`` [R, d], row r holding id ``plan.ids[r]``)."""

    def __init__(self, key: str, plan: RowPlan, rows: tf.Tensor):
        self.key, self.plan, self.rows = key, plan, rows

    @property
    def ids(self) -> tf.Tensor:
        return self.plan.ids

    def lookup(self, ids: tf.Tensor) -> tf.Tensor:
        """Rows for ``ids`` of any shape: ``[..., d]``; cost O(|ids|), independent of the table size."""
        ids = tf.cast(ids, tf.int32)
        out = tf.gather(self.rows, self.plan.positions(tf.reshape(ids, [-1])))
        return tf.reshape(out, tf.concat([tf.shape(ids), tf.shape(self.rows)[1:]], 0))


class DirectReadGuard:
    """Stands in for a gathered table's variable: any direct use outside ``Embedding.call`` fails clearly."""

    def __init__(self, key: str):
        object.__setattr__(self, "_key", key)

    def __getattr__(self, name: str):
        raise RuntimeError(
            f"{self._key} was read directly instead of through Embedding.call while rows were gathered; "
            "use row_gather=False for this model"
        )


def _zeros_lookup(layer: tf.keras.layers.Layer, sink: list):
    def call(inputs):
        ids = tf.cast(inputs, tf.int32)
        sink.append(tf.reshape(ids, [-1]))
        return tf.zeros(tf.concat([tf.shape(ids), [layer.output_dim]], 0), layer.compute_dtype)

    return call


@contextlib.contextmanager
def recording_lookups(specs: Sequence[VariableSpec]) -> Iterator[dict[str, list[tf.Tensor]]]:
    """Within the block every table's ``Embedding`` returns zeros and records its ids: ``{key: [ids, ...]}``."""
    seen: dict[str, list[tf.Tensor]] = {s.key: [] for s in specs if s.kind == TABLE}
    with contextlib.ExitStack() as stack:
        for s in specs:
            if s.kind == TABLE:
                for layer, _ in s.holders:
                    stack.enter_context(patched(layer, "call", _zeros_lookup(layer, seen[s.key])))
        yield seen


def touched_rows(
    specs: Sequence[VariableSpec], model: tf.keras.Model, batches: Sequence[Mapping[str, tf.Tensor]]
) -> dict[str, RowPlan]:
    """The rows of every table that ``model`` looks up on ``batches`` (run in this order): ``{key: RowPlan}``."""
    with recording_lookups(specs) as seen:
        for batch in batches:
            model(batch)
    out = {}
    for key, lookups in seen.items():
        if not lookups:
            raise ValueError(f"{key}: the model never looked this table up; nothing to gather")
        ids, pos = tf.unique(tf.concat(lookups, 0), out_idx=tf.int32)
        parts = tf.split(pos, tf.stack([tf.size(x) for x in lookups]), num=len(lookups))
        out[key] = RowPlan(key, ids, list(zip(lookups, parts)))
    return out
