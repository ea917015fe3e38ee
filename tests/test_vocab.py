"""Raw-id vocabularies: kept by preprocessing, saved with a period set, the same text in the bench and the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from asmg_tf.data.build import make_period_set
from asmg_tf.data.periods import PeriodSet
from asmg_tf.data.synthetic import synthetic_stream
from asmg_tf.data.vocab import IdVocabulary, id_text, is_integer_id


def test_integer_ids_are_canonical_int64_text():
    assert [is_integer_id(t) for t in ("0", "7", "-3", "9223372036854775807")] == [True] * 4
    for text in ("007", "+7", "-0", "7.0", "", " 7", "9223372036854775808", "85123A", "1e3"):
        assert not is_integer_id(text), text


def test_id_text_is_the_pipelines_text_of_reader_values():
    # pipeline.events writes str(value) of the reader's column, bytes as UTF-8: the bench's vocabulary must agree
    assert id_text([np.int64(17850), "85123A", b"caf\xc3\xa9", 5]) == ["17850", "85123A", "café", "5"]


def test_vocabulary_rejects_what_a_vocabulary_file_cannot_hold():
    for users, message in ((["1", "1"], "appears twice"), (["1", ""], "non-empty"), (["a\nb"], "line breaks")):
        with pytest.raises(ValueError, match=message):
            IdVocabulary(users, ["x"])


def test_vocabulary_maps_rows_to_raw_ids_and_round_trips(tmp_path):
    vocab = IdVocabulary(["12346", "12347"], ["85123A", "22423", "caf\u00e9 \u2028x"])
    assert vocab.integer("users") and not vocab.integer("items")
    assert vocab.raw("items", np.array([[2, 0]])).tolist() == [["caf\u00e9 \u2028x", "85123A"]]
    with pytest.raises(IndexError, match="outside the vocabulary"):
        vocab.raw("users", np.array([2]))
    vocab.write(str(tmp_path / "v"))
    assert IdVocabulary.read(str(tmp_path / "v")) == vocab
    with pytest.raises(FileNotFoundError, match="no raw-id vocabulary"):
        IdVocabulary.read(str(tmp_path))


def test_period_sets_keep_the_raw_id_of_every_row(tmp_path):
    inter = synthetic_stream(seed=3, num_periods=8, num_users=40, num_items=30, events_per_period=120)
    periods = make_period_set(inter, split="day", num_periods=8)
    vocab = periods.id_vocabulary()
    # rows are the raw ids in sorted order (the paper's remapping): row r of a table is vocab[r]
    assert list(vocab.users) == id_text(np.sort(inter.events["user"].unique()))
    assert vocab.sizes() == {"users": periods.num_users, "items": periods.num_items}
    first = periods.period(1)
    raw_users = vocab.raw("users", first.user)
    times = inter.events.set_index("timestamp")
    assert set(raw_users.tolist()) <= set(id_text(times["user"].unique()))
    periods.save(str(tmp_path / "p"))
    assert PeriodSet.load(str(tmp_path / "p")).vocabulary == vocab


def test_a_set_without_vocabulary_says_how_to_get_one(tmp_path):
    inter = synthetic_stream(seed=3, num_periods=8, num_users=40, num_items=30, events_per_period=120)
    periods = make_period_set(inter, split="day", num_periods=8)
    periods.vocabulary = None  # as a cache written by an older asmg
    periods.save(str(tmp_path / "old"))
    loaded = PeriodSet.load(str(tmp_path / "old"))
    assert loaded.vocabulary is None
    with pytest.raises(ValueError, match="keeps no raw-id vocabulary"):
        loaded.id_vocabulary()


def test_bench_rebuilds_a_cached_set_without_vocabulary(tmp_path):
    from asmg_tf.bench.bench import BenchSpec, load_periods

    spec = BenchSpec(num_periods=8, synthetic={"num_users": 40, "num_items": 30, "events_per_period": 120})
    periods, ddir, _ = load_periods(spec, str(tmp_path), log=lambda m: None)
    arrays = {k: v.copy() for k, v in periods.period(3).arrays().items()}
    periods.vocabulary = None
    periods.save(f"{ddir}/periods")  # what an older asmg left in the cache
    messages = []
    rebuilt, ddir2, _ = load_periods(spec, str(tmp_path), log=messages.append)
    assert ddir2 == ddir and rebuilt.vocabulary is not None
    assert any("keeps no raw-id vocabulary" in m for m in messages)
    for k, v in rebuilt.period(3).arrays().items():  # the same arrays: the cached pretraining stays valid
        np.testing.assert_array_equal(v, arrays[k])
