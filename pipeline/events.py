"""Raw interaction events as ``tf.Example`` records: the format of the span folders the pipeline ingests.

One record per interaction::

    user        bytes  raw user id (any string; ids are kept as text so "007" and "7" stay different)
    item        bytes  raw item id
    timestamp   int64  unix seconds
    seq         int64  position in the source log (ties of equal timestamps keep the log's order)
    rating      float  explicit-feedback data only
    categories  bytes  the item's raw category ids (0..n values; data with item categories only)

The checked-in schemas in ``pipeline/schema/`` describe exactly this; ExampleValidator checks every span against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

USER = "user"
ITEM = "item"
TIMESTAMP = "timestamp"
SEQ = "seq"
RATING = "rating"
CATEGORIES = "categories"


def _bytes(values: Iterable) -> list[bytes]:
    return [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in values]


def encode_event(
    user, item, timestamp: int, seq: int, rating: float | None = None, categories: Sequence | None = None
) -> bytes:
    """One serialized ``tf.Example`` event (raw ids of any type are written as their text)."""
    from tensorflow.core.example import example_pb2, feature_pb2

    feature = {
        USER: feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=_bytes([user]))),
        ITEM: feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=_bytes([item]))),
        TIMESTAMP: feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[int(timestamp)])),
        SEQ: feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[int(seq)])),
    }
    if rating is not None:
        feature[RATING] = feature_pb2.Feature(float_list=feature_pb2.FloatList(value=[float(rating)]))
    if categories is not None:
        feature[CATEGORIES] = feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=_bytes(categories)))
    return example_pb2.Example(features=feature_pb2.Features(feature=feature)).SerializeToString()


def decode_event(serialized: bytes) -> dict:
    """``{"user", "item", "timestamp", "seq", "rating" (or None), "categories" (tuple)}`` of one record."""
    from tensorflow.core.example import example_pb2

    ex = example_pb2.Example.FromString(serialized)
    f = ex.features.feature

    def one(name: str, kind: str):
        values = getattr(f[name], kind).value if name in f else ()
        if len(values) != 1:
            raise ValueError(f"event feature {name!r} must hold exactly one value, got {list(values)[:5]}")
        return values[0]

    return {
        USER: one(USER, "bytes_list"),
        ITEM: one(ITEM, "bytes_list"),
        TIMESTAMP: int(one(TIMESTAMP, "int64_list")),
        SEQ: int(one(SEQ, "int64_list")) if SEQ in f and f[SEQ].int64_list.value else 0,
        RATING: float(f[RATING].float_list.value[0]) if RATING in f and f[RATING].float_list.value else None,
        CATEGORIES: tuple(f[CATEGORIES].bytes_list.value) if CATEGORIES in f else (),
    }
