"""The id features of serialized tf.Examples, sent as ``bytes_list`` (the contract) or ``int64_list`` (integer ids).

``ParseExampleV2`` takes one dtype per feature and rejects the other, so requests whose id features are all
``bytes_list`` take that fast path, and a batch where any of them may be ``int64_list`` is decoded field by field
(``tf.io.decode_proto`` over Example -> Features -> FeatureEntry -> Feature -> Bytes/Int64List, about 3x slower),
its integers turned into their decimal text. Which path a batch takes is decided by a byte pattern
(``_maybe_int64``): a map entry whose key is an id feature and whose value starts with ``int64_list``'s tag. Any
batch holding such an entry matches it (a false match, e.g. those bytes inside an id, only costs the slower path); a
serializer that writes an entry's value before its key would not match, and then gets ``ParseExampleV2``'s
INVALID_ARGUMENT ("Key: user. Data types don't match"), never a wrong answer.

Out: ``{feature: (text [B, None] ragged, from_int64 [B] bool, from_float [B] bool)}``; the caller checks counts,
kinds and integer spaces (nothing here asserts: both branches stay stateless, which keeps the ``cond`` cheap).
"""

from __future__ import annotations

import re

import tensorflow as tf


def _maybe_int64(serialized: tf.Tensor, features: tuple[str, ...]) -> tf.Tensor:
    """True when some map entry keyed by one of ``features`` holds an ``int64_list`` (canonical field order).

    A FeatureEntry is ``0x0a <len> <key>`` then ``0x12 <varint length>`` and the Feature, whose first tag is 0x1a
    for ``int64_list``. RE2's ``\\C`` matches any single byte (``.`` would read the bytes as UTF-8 and miss
    varints >= 0x80); one pass over the batch costs ~0.07 ms at 256 examples on these machines.
    """
    keys = "|".join(f"\\x{len(name):02x}{re.escape(name)}" for name in features)
    pattern = f"\\C*\\x0a(?:{keys})\\x12\\C{{1,5}}\\x1a\\C*"
    return tf.reduce_any(tf.strings.regex_full_match(serialized, pattern))


def _last_entry(keys: tf.Tensor, rows: tf.Tensor, batch: tf.Tensor, name: str) -> tf.Tensor:
    """Per example, the index of its last entry with key ``name`` (a repeated key: the last wins, as in protobuf
    maps), -1 when it has none."""
    index = tf.range(tf.shape(keys, out_type=tf.int64)[0])
    return tf.math.unsorted_segment_max(tf.where(tf.equal(keys, name), index, -1), rows, batch)


def _values(serialized: tf.Tensor, message: str, dtype: tf.DType) -> tf.RaggedTensor:
    """The repeated ``value`` field of Bytes/Int64List messages, one ragged row per message."""
    decoded = tf.io.decode_proto(serialized, message, ["value"], [dtype])
    return tf.RaggedTensor.from_tensor(decoded.values[0], lengths=decoded.sizes[:, 0], row_splits_dtype=tf.int64)


def decode_ids(serialized: tf.Tensor, features: tuple[str, ...]) -> dict[str, tuple]:
    """The slow path: ``features`` of every example decoded field by field (see the module docstring)."""
    batch = tf.shape(serialized, out_type=tf.int64)[0]
    example = tf.io.decode_proto(serialized, "tensorflow.Example", ["features"], [tf.string])
    entries = tf.io.decode_proto(tf.reshape(example.values[0], [-1]), "tensorflow.Features", ["feature"], [tf.string])
    entries = tf.RaggedTensor.from_tensor(entries.values[0], lengths=entries.sizes[:, 0], row_splits_dtype=tf.int64)
    rows = entries.value_rowids()
    kv = tf.io.decode_proto(
        entries.flat_values, "tensorflow.Features.FeatureEntry", ["key", "value"], [tf.string, tf.string]
    )
    keys, values = tf.reshape(kv.values[0], [-1]), tf.reshape(kv.values[1], [-1])
    out = {}
    for name in features:
        last = _last_entry(keys, rows, batch, name)
        feature = tf.where(last >= 0, tf.gather(values, tf.maximum(last, 0)), "")  # absent: an empty Feature
        kinds = tf.io.decode_proto(
            feature, "tensorflow.Feature", ["bytes_list", "float_list", "int64_list"], [tf.string] * 3
        )
        from_float, from_int64 = kinds.sizes[:, 1] > 0, kinds.sizes[:, 2] > 0
        text = _values(tf.reshape(kinds.values[0], [-1]), "tensorflow.BytesList", tf.string)
        ints = _values(tf.reshape(kinds.values[2], [-1]), "tensorflow.Int64List", tf.int64)
        # a Feature holds one of its lists (oneof): the other one decodes as an empty row
        out[name] = (tf.concat([text, tf.strings.as_string(ints)], axis=1), from_int64, from_float)
    return out


def parse_ids(serialized: tf.Tensor, features: tuple[str, ...], int64: bool = True) -> dict[str, tuple]:
    """``{feature: (ids as text, ragged [B, None]; from_int64 [B]; from_float [B])}`` of serialized tf.Examples.

    ``int64=False`` (no id space of the model is integer): the fast path only, where an ``int64_list`` id is
    ``ParseExampleV2``'s INVALID_ARGUMENT ("Key: item. Data types don't match")."""
    serialized = tf.convert_to_tensor(serialized, tf.string)

    def fast():
        spec = {name: tf.io.RaggedFeature(tf.string, row_splits_dtype=tf.int64) for name in features}
        parsed = tf.io.parse_example(serialized, spec)
        none = tf.zeros_like(serialized, tf.bool)
        return {name: (parsed[name], none, none) for name in features}

    if not int64:
        return fast()
    return tf.cond(_maybe_int64(serialized, features), lambda: decode_ids(serialized, features), fast)
