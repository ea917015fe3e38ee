"""The Beam graph of one period: append-only ids, per-user preprocessing with the carried state, records out.

Every step is a plain Beam transform (reads, CombinePerKey, CoGroupByKey, side inputs, writes), so the graph runs on
any runner (DirectRunner here; Dataflow, Flink or Spark through the pipeline's ``beam_pipeline_args``). Sizes that
grow with the data (events, users, the vocabularies) stay PCollections; side inputs hold only this span's new ids,
the index of this span's items and the category table.
"""

from __future__ import annotations

import io
import json
import os
import uuid
import zlib
from collections.abc import Iterator

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline import events as E
from pipeline import preprocess as P
from pipeline import state as S
from pipeline.examples import encode_samples

DAY = 86400


def parse_event(serialized: bytes, day_histories: bool) -> dict:
    e = E.decode_event(serialized)
    e[E.USER] = e[E.USER].decode("utf-8")
    e[E.ITEM] = e[E.ITEM].decode("utf-8")
    e[E.CATEGORIES] = tuple(c.decode("utf-8") for c in e[E.CATEGORIES])
    e["hist_time"] = e[E.TIMESTAMP] // DAY if day_histories else e[E.TIMESTAMP]
    return e


def read_vocab_lines(path: str | None) -> Iterator[tuple[str, int]]:
    """``(raw id, index)`` for every line of a vocabulary file (none for a missing file)."""
    if not path or not FileSystems.exists(path):
        return
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for index, line in enumerate(io.TextIOWrapper(f, encoding="utf-8")):
            yield line.rstrip("\n"), index


def _keep_new(kv):
    raw, groups = kv
    first, old = list(groups["first"]), list(groups["old"])
    if first and not old:
        yield raw, min(first)


def _sorted_new(entries: list) -> list:
    """New ids of this span in the order they get indices: first appearance (timestamp, seq), then raw id."""
    return sorted(entries, key=lambda kv: (kv[1][0], kv[1][1], kv[0]))


class NewIds(beam.PTransform):
    """``(raw, first)`` of this span's ids missing from the old vocabulary -> one sorted list ``[(raw, first)]``."""

    def __init__(self, old_vocab):
        super().__init__()
        self._old = old_vocab

    def expand(self, first_seen):
        return (
            {"first": first_seen, "old": self._old}
            | "Join" >> beam.CoGroupByKey()
            | "KeepNew" >> beam.FlatMap(_keep_new)
            | "ToList" >> beam.combiners.ToList()
            | "Sort" >> beam.Map(_sorted_new)
        )


def _span_index(kv, new_list, offset):
    raw, groups = kv
    if not list(groups["first"]):
        return
    old = list(groups["old"])
    if old:
        yield raw, old[0]
    else:
        new_index = {r: offset + n for n, (r, _) in enumerate(new_list)}
        yield raw, new_index[raw]


class SpanIndex(beam.PTransform):
    """``(raw, index)`` of every id this span uses, old ones from the vocabulary, new ones appended in order."""

    def __init__(self, old_vocab, new_sorted, offset: int):
        super().__init__()
        self._old, self._new, self._offset = old_vocab, new_sorted, offset

    def expand(self, first_seen):
        return (
            {"first": first_seen, "old": self._old}
            | "Join" >> beam.CoGroupByKey()
            | "Index" >> beam.FlatMap(_span_index, new_list=beam.pvalue.AsSingleton(self._new), offset=self._offset)
        )


def category_table(old_table_path: str | None, new_items: list, category_index: dict) -> np.ndarray:
    """The item -> categories table after this span: old rows, then one row per new item (first event's list)."""
    old = None
    if old_table_path and FileSystems.exists(old_table_path):
        with FileSystems.open(old_table_path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            old = np.load(io.BytesIO(f.read()), allow_pickle=False)
    rows = [[category_index[c] for c in first[2]] for _, first in new_items]
    return S.extend_categories(old, rows)


class UserPeriodFn(beam.DoFn):
    """Per user: one ``(samples or None, user state record)`` pair: the period's samples from the carried history,
    and the history to carry on (pass-through, no samples, for users without events this period). One output, not
    tagged ones: Beam 2.77's DaskRunner merges a multi-output ParDo's outputs into one collection."""

    def __init__(self, settings: dict, span: int, user_offset: int):
        super().__init__()
        self._settings = settings
        self._span = span
        self._user_offset = user_offset

    def process(self, kv, item_index, new_users, num_items):
        raw, groups = kv
        evs, old = list(groups["events"]), list(groups["state"])
        if old:
            index, history = old[0]
        else:
            index, history = self._user_offset + new_users[raw], P.UserHistory.empty()
        if not evs:
            yield None, S.encode_user(raw.encode("utf-8"), index, history)
            return
        s = self._settings
        events = P.UserEvents(
            item=np.array([item_index[e[E.ITEM]] for e in evs], np.int64),
            timestamp=np.array([e[E.TIMESTAMP] for e in evs], np.int64),
            seq=np.array([e[E.SEQ] for e in evs], np.int64),
            hist_time=np.array([e["hist_time"] for e in evs], np.int64),
            rating=np.array([e[E.RATING] for e in evs], np.float64) if s["explicit"] else None,
        )
        rng = None if s["explicit"] else np.random.default_rng([s["sample_seed"], self._span, index])
        samples, new_history = P.user_period(
            index,
            events,
            history,
            num_items=num_items,
            explicit=s["explicit"],
            positive_rating=s["positive_rating"],
            hist_len=s["hist_len"],
            rng=rng,
        )
        yield samples, S.encode_user(raw.encode("utf-8"), index, new_history)


def _user_state_pair(serialized: bytes):
    raw, index, history = S.decode_user(serialized)
    return raw.decode("utf-8"), (index, history)


def build_period_graph(
    p: beam.Pipeline,
    *,
    event_files: list[str],
    old_state: str | None,
    sizes: dict[str, int],
    settings: dict,
    span: int,
    examples_dir: str,
    state_users_dir: str,
    side_dir: str,
) -> None:
    """Add the period's steps to ``p``. Outputs: example records, user records and small JSON side files
    (new ids in index order, counts) that the executor folds into the vocabularies and the state's meta."""
    day = settings["history_granularity"] == "day"
    _check_one_folder(event_files)
    events = p | "ReadEvents" >> ReadRecords(event_files) | "ParseEvents" >> beam.Map(parse_event, day_histories=day)
    user_files = _record_files(os.path.join(old_state, S.USERS_DIR)) if old_state else []
    old_users = p | "ReadUserState" >> ReadRecords(user_files) | "DecodeUserState" >> beam.Map(_user_state_pair)

    def old_vocab(name):
        path = S.vocab_path(old_state, name) if old_state else None
        return p | f"Vocab{name}" >> beam.Create([path]) | f"Lines{name}" >> beam.FlatMap(read_vocab_lines)

    first_users = (
        events
        | "UserFirst" >> beam.Map(lambda e: (e[E.USER], (e[E.TIMESTAMP], e[E.SEQ])))
        | "UserMin" >> beam.CombinePerKey(min)
    )
    first_items = (
        events
        | "ItemFirst" >> beam.Map(lambda e: (e[E.ITEM], (e[E.TIMESTAMP], e[E.SEQ], e[E.CATEGORIES])))
        | "ItemMin" >> beam.CombinePerKey(min)
    )
    first_cats = (
        events
        | "CatFirst" >> beam.FlatMap(lambda e: [(c, (e[E.TIMESTAMP], e[E.SEQ])) for c in e[E.CATEGORIES]])
        | "CatMin" >> beam.CombinePerKey(min)
    )
    old_items, old_cats = old_vocab("items"), old_vocab("categories")
    new_users = first_users | "NewUsers" >> NewIds(old_vocab("users"))
    new_items = first_items | "NewItems" >> NewIds(old_items)
    new_cats = first_cats | "NewCats" >> NewIds(old_cats)
    item_index = first_items | "ItemIndex" >> SpanIndex(old_items, new_items, sizes["items"])
    cat_index = first_cats | "CatIndex" >> SpanIndex(old_cats, new_cats, sizes["categories"])
    new_user_rank = new_users | "UserRank" >> beam.Map(lambda lst: {raw: n for n, (raw, _) in enumerate(lst)})
    num_items = new_items | "NumItems" >> beam.Map(lambda lst, n: n + len(lst), n=sizes["items"])
    table_path = os.path.join(old_state, S.ITEM_CATEGORIES) if old_state else None
    table = (
        p
        | "OldTable" >> beam.Create([table_path])
        | "Table"
        >> beam.Map(
            category_table,
            new_items=beam.pvalue.AsSingleton(new_items),
            category_index=beam.pvalue.AsDict(cat_index),
        )
    )

    by_user = events | "KeyByUser" >> beam.Map(lambda e: (e[E.USER], e))
    results = (
        {"events": by_user, "state": old_users}
        | "GroupUsers" >> beam.CoGroupByKey()
        | "UserPeriod"
        >> beam.ParDo(
            UserPeriodFn(settings, span, sizes["users"]),
            item_index=beam.pvalue.AsDict(item_index),
            new_users=beam.pvalue.AsSingleton(new_user_rank),
            num_items=beam.pvalue.AsSingleton(num_items),
        )
    )
    samples = results | "Samples" >> beam.FlatMap(lambda r: [] if r[0] is None else [r[0]])
    user_records = results | "UserRecords" >> beam.Map(lambda r: r[1])
    has_cats = settings["has_categories"]
    written = [
        samples
        | "Encode"
        >> beam.FlatMap(lambda s, t: encode_samples(s, t if has_cats else None), t=beam.pvalue.AsSingleton(table))
        | "WriteExamples" >> WriteRecordShards(os.path.join(examples_dir, "examples")),
        user_records | "WriteUserState" >> WriteRecordShards(os.path.join(state_users_dir, "users")),
    ]
    counts = (
        samples
        | "Count" >> beam.Map(lambda s: (int(s["label"].size), int((s["label"] > 0).sum()), 1))
        | "SumCounts" >> beam.CombineGlobally(_sum_counts)
        | "CountsJson" >> beam.Map(lambda c: json.dumps({"examples": c[0], "positives": c[1], "active_users": c[2]}))
    )
    for name, pcoll in (("users", new_users), ("items", new_items), ("categories", new_cats)):
        written.append(
            pcoll
            | f"Json{name}" >> beam.Map(json.dumps)
            | f"Write{name}" >> _write_one(os.path.join(side_dir, f"new_{name}.json"))
        )
    written.append(counts | "WriteCounts" >> _write_one(os.path.join(side_dir, "counts.json")))
    written.append(
        events
        | "CountEvents" >> beam.combiners.Count.Globally()
        | "EventsJson" >> beam.Map(lambda n: json.dumps({"events": n}))
        | "WriteEventCount" >> _write_one(os.path.join(side_dir, "events.json"))
    )
    # One last step that depends on every write: Beam 2.77's DaskRunner computes only the graph's last transform
    # (and what it depends on), so without it most sinks would silently not run there. A no-op on other runners.
    tuple(written) | "AllWritten" >> beam.Flatten()


def _sum_counts(rows) -> tuple[int, int, int]:
    """(examples, positives, users) summed; associative, so Beam may combine partial sums."""
    total = [0, 0, 0]
    for row in rows:
        total = [a + b for a, b in zip(total, row)]
    return tuple(total)


def _write_one(path: str) -> beam.PTransform:
    """One text element -> the file ``path``, written atomically (rewriting it is harmless)."""
    return beam.Map(_write_text, path=path)


def _write_text(text: str, path: str) -> str:
    from pipeline import fs

    fs.write_text(path, text + "\n")
    return path


#: files per written collection (records go to a file by a hash of their bytes)
NUM_SHARDS = 4


class WriteRecordShards(beam.PTransform):
    """Serialized records -> ``<prefix>-SSSSS-of-NNNNN.tfrecord.gz``; each file is written whole by one worker to a
    hidden temporary name, then renamed. Beam's file sinks are not used: their finalize step reads the written
    shards as side inputs, which Beam 2.77's DaskRunner recomputes (several temporary folders, records lost); here a
    recomputation rewrites the same files. Shards with no records get no file."""

    def __init__(self, prefix: str, num_shards: int = NUM_SHARDS):
        super().__init__()
        self._prefix, self._num_shards = prefix, num_shards

    def expand(self, records):
        n = self._num_shards
        return (
            records
            | "Shard" >> beam.Map(lambda r: (zlib.crc32(r) % n, r))
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShards" >> beam.Map(_write_shard, prefix=self._prefix, num_shards=n)
        )


def _write_shard(shard_records, prefix: str, num_shards: int) -> str:
    import tensorflow as tf

    from pipeline import fs

    shard, records = shard_records
    path = f"{prefix}-{shard:05d}-of-{num_shards:05d}.tfrecord.gz"
    fs.makedirs(fs.dirname(path))
    tmp = fs.join(fs.dirname(path), f".{fs.basename(path)}-{uuid.uuid4().hex}.tmp")
    try:
        with tf.io.TFRecordWriter(tmp, options="GZIP") as writer:
            for record in records:
                writer.write(record)
        fs.rename(tmp, path)
    finally:
        fs.remove_tree(tmp)
    return path


def _record_files(directory: str) -> list[str]:
    """The ``*.tfrecord.gz`` files directly in ``directory`` (not hidden ones, nor a runner's ``beam-temp-*``
    folder; none for a missing folder)."""
    matches = FileSystems.match([FileSystems.join(directory, "*.tfrecord.gz")])[0].metadata_list
    return sorted(m.path for m in matches if not FileSystems.split(m.path)[1].startswith("."))


def _check_one_folder(files: list[str]) -> None:
    directory = os.path.dirname(files[0])
    if any(os.path.dirname(f) != directory for f in files):
        raise ValueError(f"event files must share one folder, got {files[:3]}")


def _file_records(path: str) -> Iterator[bytes]:
    """The records of one TFRecord file (GZIP when the name ends in ``.gz``), through TF's filesystem layer."""
    import tensorflow as tf

    compression = "GZIP" if path.endswith(".gz") else ""
    for record in tf.data.TFRecordDataset(path, compression_type=compression):
        yield record.numpy()


class ReadRecords(beam.PTransform):
    """The records of a list of TFRecord files, one file per element. Built from ``Create`` and ``FlatMap`` only,
    so every runner translates it (Beam's DaskRunner has no translation for ``ReadFromTFRecord``'s source read;
    compressed files are read whole by one worker on any runner anyway)."""

    def __init__(self, files: list[str]):
        super().__init__()
        self._files = list(files)

    def expand(self, pbegin):
        return pbegin | "Files" >> beam.Create(self._files) | "Records" >> beam.FlatMap(_file_records)
