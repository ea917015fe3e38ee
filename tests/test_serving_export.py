"""SavedModel export for TF Serving: layout, atomic writes, signatures, scores, OOV rows, ops, warm-up, config."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf
import yaml
from serving_util import (
    NUM_CATEGORIES,
    NUM_ITEMS,
    NUM_USERS,
    VOCAB,
    keras_probs,
    oov_reference,
    raw_items,
    raw_rows,
    raw_users,
    tiny_model,
)

from asmg_tf.data.vocab import IdVocabulary
from asmg_tf.locking import LOCK_FILE
from asmg_tf.models.ranker import RankerContractError
from asmg_tf.models.registry import describe
from asmg_tf.models.weights import get_weights
from serving import schema as S
from serving.export import export_model, list_versions, model_from_weights, trimmed
from serving.model_config import ModelEntry, canary_entry, format_config, read_model_config, write_model_config
from serving.warmup import read_warmup

REPO = pathlib.Path(__file__).resolve().parents[1]
ROWS = [(0, 3, [1, 2]), (1, 4, [3]), (6, 10, []), (2, 0, [9, 8, 7, 6])]  # (user row, item row, [hist rows])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model, table = tiny_model()
    base = tmp_path_factory.mktemp("models")
    path = export_model(model, str(base), "asmg", version=1, item_categories=table, vocabulary=VOCAB)
    return model, table, path


@contextlib.contextmanager
def loaded(path: str):
    """A TF1 session holding the export, loaded as TF Serving does (tag ``serve``); not the default graph, so
    the Keras model can still run eagerly inside the block."""
    sess = tf.compat.v1.Session(graph=tf.Graph())
    try:
        yield sess, tf.compat.v1.saved_model.loader.load(sess, [tf.saved_model.SERVING], path)
    finally:
        sess.close()


def run(sess, meta, signature: str, inputs: dict) -> dict:
    sig = meta.signature_def[signature]
    names = sorted(sig.outputs)
    values = sess.run([sig.outputs[n].name for n in names], {sig.inputs[k].name: v for k, v in inputs.items()})
    return dict(zip(names, values))


def text(values) -> np.ndarray:
    """Raw ids as a DT_STRING feed (any shape; ragged rows are not allowed)."""
    return np.array([[S.id_bytes(v) for v in row] for row in values] if np.ndim(values) == 2 else
                    [S.id_bytes(v) for v in values], dtype=object)  # fmt: skip


def id_inputs(rows: list[dict]) -> dict:
    """``predict_ids`` feeds of client rows ``{"user", "item", "hist"}`` (histories padded with "")."""
    width = max([1, *(len(r["hist"]) for r in rows)])
    return {
        "user": text([r["user"] for r in rows]),
        "item": text([r["item"] for r in rows]),
        "hist": text([list(r["hist"]) + [""] * (width - len(r["hist"])) for r in rows]),
        "hist_len": np.array([len(r["hist"]) for r in rows], np.int64),
    }


def test_layout_versions_and_atomic_rename(exported, tmp_path):
    model, table, path = exported
    assert path.endswith(os.path.join("asmg", "1"))
    assert {"saved_model.pb", "variables", "assets", "assets.extra"} <= set(os.listdir(path))
    assert set(os.listdir(os.path.join(path, "assets.extra"))) == {S.WARMUP_FILE, "asmg_export.json"}
    assert set(os.listdir(os.path.dirname(path))) - {LOCK_FILE} == {"1"}  # no staging folder left behind
    with pytest.raises(FileExistsError, match="immutable"):
        export_model(
            model, os.path.dirname(os.path.dirname(path)), "asmg", version=1, item_categories=table, vocabulary=VOCAB
        )
    before = int(time.time())
    auto = export_model(model, str(tmp_path), "m", item_categories=table, vocabulary=VOCAB, warmup=False)
    assert int(os.path.basename(auto)) >= before
    again = export_model(model, str(tmp_path), "m", item_categories=table, vocabulary=VOCAB, warmup=False)
    assert int(os.path.basename(again)) > int(os.path.basename(auto))
    assert list_versions(str(tmp_path / "m")) == sorted([int(os.path.basename(auto)), int(os.path.basename(again))])


def test_vocabulary_assets_and_export_info(exported):
    """The raw-id vocabularies travel inside the version (``assets/``, line n = the raw id of row n)."""
    path = pathlib.Path(exported[2])
    assert sorted(os.listdir(path / "assets")) == ["items.txt", "users.txt"]
    assert (path / "assets" / "users.txt").read_text(encoding="utf-8") == "".join(u + "\n" for u in VOCAB.users)
    assert (path / "assets" / "items.txt").read_text(encoding="utf-8") == "".join(i + "\n" for i in VOCAB.items)
    assert IdVocabulary.read(str(path / "assets")) == VOCAB
    info = json.loads((path / "assets.extra" / "asmg_export.json").read_text())
    assert info["format"] == "asmg-serving/2"
    assert info["num_users"] == NUM_USERS and info["num_items"] == NUM_ITEMS
    assert info["ids"] == {
        "users": {"vocabulary": "assets/users.txt", "size": NUM_USERS, "integer": True},
        "items": {"vocabulary": "assets/items.txt", "size": NUM_ITEMS, "integer": False},
    }
    assert S.IDS_SIGNATURE in info["signatures"] and "predict_raw" not in info["signatures"]


def test_failed_export_leaves_no_version(tmp_path, monkeypatch):
    model, table = tiny_model()

    def boom(*_):
        raise OSError("disk full (injected)")

    monkeypatch.setattr("serving.export.write_warmup", boom)
    with pytest.raises(OSError, match="injected"):
        export_model(model, str(tmp_path), "asmg", version=5, item_categories=table, vocabulary=VOCAB)
    assert set(os.listdir(tmp_path / "asmg")) - {LOCK_FILE} == set()


def test_saved_model_cli_lists_the_signatures(exported):
    cli = REPO / ".venv" / "bin" / "saved_model_cli"
    out = subprocess.run([str(cli), "show", "--dir", exported[2], "--all"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    for name in S.SIGNATURES:
        assert f"signature_def['{name}']" in out.stdout
    assert "signature_def['predict_raw']" not in out.stdout
    assert "inputs['examples'] tensor_info" in out.stdout
    assert "tensorflow/serving/classify" in out.stdout and "tensorflow/serving/regress" in out.stdout


def test_signature_inputs_are_raw_id_strings(exported):
    string, int64 = tf.string.as_datatype_enum, tf.int64.as_datatype_enum
    with loaded(exported[2]) as (_, meta):
        ids = meta.signature_def[S.IDS_SIGNATURE].inputs
        rank = meta.signature_def[S.RANK_SIGNATURE].inputs
        outputs = meta.signature_def[S.RANK_SIGNATURE].outputs
    assert {k: v.dtype for k, v in ids.items()} == {"user": string, "item": string, "hist": string, "hist_len": int64}
    assert {k: v.dtype for k, v in rank.items()} == {
        "user": string,
        "hist": string,
        "hist_len": int64,
        "candidates": string,
        "k": int64,
    }
    assert outputs[S.ITEM_IDS].dtype == string


def test_signatures_match_the_keras_model(exported):
    model, table, path = exported
    hist_rows = [r[2] for r in ROWS]
    users, items = np.array([r[0] for r in ROWS]), np.array([r[1] for r in ROWS])
    expected = keras_probs(model, table, users, items, hist_rows)
    rows = raw_rows(ROWS)
    with loaded(path) as (sess, meta):
        examples = S.serialize_examples(rows)
        got = run(sess, meta, S.DEFAULT_SIGNATURE, {S.EXAMPLES: examples})
        np.testing.assert_allclose(got[S.PROBABILITY], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[S.LOGIT], np.log(expected / (1 - expected)), rtol=1e-4, atol=1e-5)

        got = run(sess, meta, S.IDS_SIGNATURE, id_inputs(rows))
        np.testing.assert_allclose(got[S.PROBABILITY], expected, rtol=1e-5, atol=1e-6)

        classify = run(sess, meta, S.CLASSIFY_SIGNATURE, {"inputs": examples})
        np.testing.assert_allclose(classify[S.SCORES], np.stack([1 - expected, expected], 1), rtol=1e-5, atol=1e-6)
        assert classify[S.CLASSES].tolist() == [[b"0", b"1"]] * len(ROWS)
        np.testing.assert_allclose(
            run(sess, meta, S.REGRESS_SIGNATURE, {"inputs": examples})["outputs"], expected, rtol=1e-5
        )

        candidates = np.arange(NUM_ITEMS)
        all_scores = keras_probs(model, table, [2] * NUM_ITEMS, candidates, [[5, 1]] * NUM_ITEMS)
        ranked = run(
            sess,
            meta,
            S.RANK_SIGNATURE,
            {
                "user": text(raw_users([2])),
                "hist": text([raw_items([5, 1])]),
                "hist_len": np.array([2], np.int64),
                "candidates": text([raw_items(candidates)]),
                "k": np.array([4], np.int64),
            },
        )
        order = np.argsort(-all_scores)[:4]
        assert ranked[S.ITEM_IDS].tolist() == [[i.encode() for i in raw_items(candidates[order])]]
        np.testing.assert_allclose(ranked[S.SCORES][0], all_scores[order], rtol=1e-5)
        big_k = run(
            sess,
            meta,
            S.RANK_SIGNATURE,
            {
                "user": text(raw_users([2])),
                "hist": text([raw_items([5, 1])]),
                "hist_len": np.array([2], np.int64),
                "candidates": text([raw_items([3, 1])]),
                "k": np.array([50], np.int64),
            },
        )
        assert big_k[S.ITEM_IDS].shape == (1, 2)  # k' = min(k, N)


def test_raw_ids_that_look_like_rows_are_looked_up_as_raw_ids(exported):
    """User "0" is row 2 and "3" is row 1 (not rows 0 and 3); "0042" in an integer space means "42" (row 5)."""
    model, table, path = exported
    assert VOCAB.users.index("0") == 2 and VOCAB.users.index("3") == 1 and VOCAB.users.index("42") == 5
    want = keras_probs(model, table, [2, 1, 5], [3, 3, 3], [[1], [1], [1]])
    as_rows = keras_probs(model, table, [0, 3], [3, 3], [[1], [1]])
    assert not np.allclose(want[:2], as_rows, rtol=1e-3)  # the test tells rows and raw ids apart
    rows = [{"user": u, "item": VOCAB.items[3], "hist": [VOCAB.items[1]]} for u in ("0", "3", "0042")]
    with loaded(path) as (sess, meta):
        examples = run(sess, meta, S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples(rows)})
        ids = run(sess, meta, S.IDS_SIGNATURE, id_inputs(rows))
        ints = run(sess, meta, S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples([{**rows[0], "user": 0}])})
    np.testing.assert_allclose(examples[S.PROBABILITY], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ids[S.PROBABILITY], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ints[S.PROBABILITY], want[:1], rtol=1e-5, atol=1e-6)  # an int id is its text


def test_histories_longer_than_max_hist_are_rejected(exported):
    """A history of more than ``MAX_HIST`` ids is INVALID_ARGUMENT naming ``hist`` (never silently truncated); one of
    exactly ``MAX_HIST`` is scored."""
    model, table, path = exported
    longest = [i % NUM_ITEMS for i in range(S.MAX_HIST)]
    want = keras_probs(model, table, [1], [2], [longest])
    with loaded(path) as (sess, meta):
        fits = raw_rows([(1, 2, longest)])
        got = run(sess, meta, S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples(fits)})
        np.testing.assert_allclose(got[S.PROBABILITY], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(run(sess, meta, S.IDS_SIGNATURE, id_inputs(fits))[S.PROBABILITY], want, rtol=1e-5)
        too_long = raw_rows([(1, 2, [i % NUM_ITEMS for i in range(S.MAX_HIST + 7)])])
        for signature, inputs in [
            (S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples(too_long)}),
            (S.IDS_SIGNATURE, id_inputs(too_long)),
        ]:
            with pytest.raises(tf.errors.InvalidArgumentError, match=f"hist: .*{S.MAX_HIST}"):
                run(sess, meta, signature, inputs)


def test_bad_input_is_invalid_argument_naming_the_feature(exported):
    from tensorflow.core.example import example_pb2, feature_pb2

    path = exported[2]
    good = raw_rows([(0, 3, [1, 2])])[0]
    int_item = example_pb2.Example(  # an int64_list where the ids are strings (the items: stock codes)
        features=feature_pb2.Features(
            feature={
                "user": feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[good["user"].encode()])),
                "item": feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[71053])),
            }
        )
    ).SerializeToString()
    rank = {
        "user": text([good["user"]]),
        "hist": text([good["hist"]]),
        "hist_len": np.array([2], np.int64),
        "candidates": text([raw_items([1, 2])]),
    }
    with loaded(path) as (sess, meta):
        cases = [
            (S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples([{**good, "user": ""}])}, "user: empty id"),
            (S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples([{**good, "item": ""}])}, "item: empty id"),
            (S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples([{**good, "hist": ["", "x"]}])}, "hist: empty id"),
            (
                S.DEFAULT_SIGNATURE,
                {S.EXAMPLES: S.serialize_examples([{**good, "user": "u17"}])},
                "user: .*integer",
            ),
            (S.DEFAULT_SIGNATURE, {S.EXAMPLES: [int_item]}, "item"),
            (S.IDS_SIGNATURE, {**id_inputs([good]), "hist_len": np.array([3], np.int64)}, "hist_len: .*longer"),
            (S.IDS_SIGNATURE, {**id_inputs([good]), "hist_len": np.array([-1], np.int64)}, "hist_len: .*negative"),
            (S.IDS_SIGNATURE, {**id_inputs([good]), "user": text(["1.5"])}, "user: .*integer"),
            (S.RANK_SIGNATURE, {**rank, "k": np.array([-1], np.int64)}, "k: .*negative"),
        ]
        for signature, inputs, message in cases:
            with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                run(sess, meta, signature, inputs)
        # padding past hist_len is never checked: any value, "" included
        padded = {**id_inputs([good]), "hist": text([[*good["hist"], "", "not-an-id"]])}
        assert run(sess, meta, S.IDS_SIGNATURE, padded)[S.PROBABILITY].shape == (1,)


def test_unknown_ids_use_the_mean_row(exported):
    model, table, path = exported
    reference, ref_table = oov_reference(model, table)
    assert "999" not in VOCAB.users and "-2" not in VOCAB.users and "0" not in VOCAB.items
    # unknown user (an integer the vocabulary lacks, a negative one), unknown item (a row-like one, a stock-code-like
    # one), unknown history items; n is the OOV row of each table
    rows = [
        {"user": "999", "item": VOCAB.items[3], "hist": [VOCAB.items[1]]},
        {"user": "-2", "item": VOCAB.items[4], "hist": [VOCAB.items[2]]},
        {"user": VOCAB.users[1], "item": "0", "hist": [VOCAB.items[3]]},
        {"user": VOCAB.users[1], "item": "99999Z", "hist": []},
        {"user": VOCAB.users[0], "item": VOCAB.items[2], "hist": ["85123a", "NOPE"]},
    ]
    mapped = [
        (NUM_USERS, 3, [1]),
        (NUM_USERS, 4, [2]),
        (1, NUM_ITEMS, [3]),
        (1, NUM_ITEMS, []),
        (0, 2, [NUM_ITEMS, NUM_ITEMS]),
    ]
    expected = keras_probs(reference, ref_table, [r[0] for r in mapped], [r[1] for r in mapped], [r[2] for r in mapped])
    with loaded(path) as (sess, meta):
        got = run(sess, meta, S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples(rows)})
        np.testing.assert_allclose(got[S.PROBABILITY], expected, rtol=1e-5, atol=1e-6)
        got = run(sess, meta, S.IDS_SIGNATURE, id_inputs(rows))
        np.testing.assert_allclose(got[S.PROBABILITY], expected, rtol=1e-5, atol=1e-6)
        # rank: an unknown candidate is scored from the OOV row and returned as sent
        ranked = run(
            sess,
            meta,
            S.RANK_SIGNATURE,
            {
                "user": text(["999"]),
                "hist": text([[VOCAB.items[1]]]),
                "hist_len": np.array([1], np.int64),
                "candidates": text([[VOCAB.items[3], "NEW-ITEM"]]),
                "k": np.array([2], np.int64),
            },
        )
    want = keras_probs(reference, ref_table, [NUM_USERS] * 2, [3, NUM_ITEMS], [[1], [1]])
    order = np.argsort(-want)
    assert ranked[S.ITEM_IDS][0].tolist() == [[VOCAB.items[3].encode(), b"NEW-ITEM"][j] for j in order]
    np.testing.assert_allclose(ranked[S.SCORES][0], want[order], rtol=1e-5)


def test_graph_has_only_core_ops(exported):
    with loaded(exported[2]) as (_, meta):
        graph = meta.graph_def
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    not_core = sorted(op for op in ops if not hasattr(tf.raw_ops, op))
    assert not not_core, f"ops outside core TensorFlow: {not_core}"
    assert not ops & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}, "Python ops cannot run in TF Serving"
    assert {"ParseExampleV2", "TopKV2", "ResourceGather", "MatMul", "LookupTableFindV2"} <= ops


def test_warmup_records_replay(exported):
    from serving.server.inference import replay_warmup
    from serving.server.servable import Servable

    logs = read_warmup(exported[2])
    kinds = [log.WhichOneof("log_type") for log in logs]
    assert kinds.count("predict_log") == 4 and "classify_log" in kinds and "regress_log" in kinds
    # raw ids, as clients send them: the vocabulary's first user and item, and ids it does not hold (the OOV rows)
    request = next(
        log.predict_log.request for log in logs if log.predict_log.request.model_spec.signature_name == S.IDS_SIGNATURE
    )
    users = tf.make_ndarray(request.inputs["user"]).tolist()
    items = tf.make_ndarray(request.inputs["item"]).tolist()
    assert users[0] == VOCAB.users[0].encode() and items[0] == VOCAB.items[0].encode()
    assert users[1].decode() not in VOCAB.users and items[1].decode() not in VOCAB.items
    int(users[1])  # an integer id in the integer user space
    servable = Servable("asmg", 1, exported[2])
    try:
        assert replay_warmup(servable, logs) == len(logs)
    finally:
        servable.close()


def test_model_without_categories_and_rebuild_from_weights(tmp_path):
    model, _ = tiny_model(categories=False, seed=3)
    rebuilt = model_from_weights(get_weights(model), describe(model))
    assert rebuilt.hidden_units == model.hidden_units and rebuilt.num_categories == 0
    path = export_model(rebuilt, str(tmp_path), "plain", version=2, vocabulary=VOCAB)
    rows = raw_rows([(0, 3, [1, 2]), (5, 9, [])])
    with loaded(path) as (sess, meta):
        assert sorted(meta.signature_def[S.IDS_SIGNATURE].inputs) == ["hist", "hist_len", "item", "user"]
        got = run(sess, meta, S.IDS_SIGNATURE, id_inputs(rows))
        examples = run(sess, meta, S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples(rows)})
    want = keras_probs(model, None, [0, 5], [3, 9], [[1, 2], []])
    np.testing.assert_allclose(got[S.PROBABILITY], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(examples[S.PROBABILITY], want, rtol=1e-5, atol=1e-6)


def test_a_capacity_model_exports_trimmed_to_its_vocabulary(tmp_path):
    """Table rows past the vocabulary (capacity no id maps to yet, e.g. the pipeline's headroom) are dropped: the
    version scores like the trimmed model, its OOV row is the mean of the vocabulary's rows only, and the ids of the
    dropped rows are unknown."""
    model, table = tiny_model(seed=5)
    vocab = IdVocabulary(VOCAB.users[:5], VOCAB.items[:8])  # rows 5-6 and 8-10 are capacity
    path = export_model(model, str(tmp_path), "cap", version=1, item_categories=table, vocabulary=vocab)
    small = trimmed(model, vocab.sizes())
    assert (small.num_users, small.num_items) == (5, 8) and (model.num_users, model.num_items) == (7, 11)
    small_table = table[:8]
    info = json.loads((pathlib.Path(path) / "assets.extra" / "asmg_export.json").read_text())
    assert (info["num_users"], info["num_items"]) == (5, 8) and info["ids"]["users"]["size"] == 5
    assert IdVocabulary.read(os.path.join(path, "assets")) == vocab
    reference, ref_table = oov_reference(small, small_table)
    known = [(0, 3, [1, 2]), (4, 7, [6]), (2, 0, [])]
    rows = [
        *raw_rows(known),
        {"user": VOCAB.users[6], "item": VOCAB.items[9], "hist": [VOCAB.items[10]]},  # ids of dropped rows: unknown
    ]
    want = np.concatenate(
        [keras_probs(small, small_table, [0, 4, 2], [3, 7, 0], [[1, 2], [6], []]),
         keras_probs(reference, ref_table, [5], [8], [[8]])]
    )  # fmt: skip
    with loaded(path) as (sess, meta):
        got = run(sess, meta, S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples(rows)})
        ids = run(sess, meta, S.IDS_SIGNATURE, id_inputs(rows))
    np.testing.assert_allclose(got[S.PROBABILITY], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ids[S.PROBABILITY], want, rtol=1e-5, atol=1e-6)
    # the known rows score as in the full-capacity model too (trimming drops rows, it changes none)
    np.testing.assert_allclose(want[:3], keras_probs(model, table, [0, 4, 2], [3, 7, 0], [[1, 2], [6], []]), rtol=1e-5)


def test_export_rejects_bad_arguments(tmp_path):
    model, table = tiny_model()
    with pytest.raises(TypeError, match="vocabulary"):
        export_model(model, str(tmp_path), "asmg", version=1, item_categories=table)  # vocabulary is required
    with pytest.raises(TypeError, match="IdVocabulary"):
        export_model(model, str(tmp_path), "asmg", version=1, item_categories=table, vocabulary=(VOCAB.users,))
    longer = IdVocabulary([*VOCAB.users, "77"], VOCAB.items)
    with pytest.raises(ValueError, match="names 8 users but the model's table has 7 rows"):
        export_model(model, str(tmp_path), "asmg", version=1, item_categories=table, vocabulary=longer)
    longer = IdVocabulary(VOCAB.users, [*VOCAB.items, "NEW"])
    with pytest.raises(ValueError, match="names 12 items but the model's table has 11 rows"):
        export_model(model, str(tmp_path), "asmg", version=1, item_categories=table, vocabulary=longer)
    with pytest.raises(ValueError, match="pass item_categories"):
        export_model(model, str(tmp_path), "asmg", version=1, vocabulary=VOCAB)
    with pytest.raises(ValueError, match="must be int"):
        export_model(model, str(tmp_path), "asmg", version=1, item_categories=table[:3], vocabulary=VOCAB)
    with pytest.raises(ValueError, match="values must lie"):
        export_model(model, str(tmp_path), "asmg", version=1, item_categories=table + NUM_CATEGORIES, vocabulary=VOCAB)
    with pytest.raises(ValueError, match="single path component"):
        export_model(model, str(tmp_path), "a/b", version=1, item_categories=table, vocabulary=VOCAB)
    with pytest.raises(ValueError, match="positive"):
        export_model(model, str(tmp_path), "asmg", version=0, item_categories=table, vocabulary=VOCAB)
    plain, _ = tiny_model(categories=False)
    with pytest.raises(ValueError, match="must be None"):
        export_model(plain, str(tmp_path), "p", version=1, item_categories=table, vocabulary=VOCAB)
    assert list_versions(str(tmp_path / "asmg")) == [] and list_versions(str(tmp_path / "p")) == []


def test_export_of_a_model_that_is_no_ranker_names_the_contract(tmp_path):
    with pytest.raises(RankerContractError, match="not a registered ranker"):
        export_model(tf.keras.Sequential([tf.keras.layers.Dense(1)]), str(tmp_path), "x", version=1, vocabulary=VOCAB)
    assert not (tmp_path / "x").exists() or list_versions(str(tmp_path / "x")) == []


def test_model_config_round_trip(tmp_path):
    entries = [
        ModelEntry("asmg", "/models/asmg", "latest", (2,)),
        canary_entry("asmg_canary", "/models/asmg", stable=100, canary=200),
        ModelEntry("everything", "/models/all", "all"),
    ]
    path = write_model_config(str(tmp_path / "models.config"), entries)
    assert read_model_config(path) == entries
    text = format_config(entries)
    assert 'key: "stable"' in text and "value: 100" in text and "num_versions: 2" in text and "model_platform" in text
    assert os.listdir(tmp_path) == ["models.config"]
    with pytest.raises(ValueError, match="does not load"):
        ModelEntry("m", "/x", "specific", (1,), {"canary": 2})
    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list { config { nme: 'x' } }")
    with pytest.raises(ValueError, match="bad.config"):
        read_model_config(str(bad))


def test_deployment_files_mount_the_config():
    deploy = REPO / "serving" / "deploy"
    entries = read_model_config(str(deploy / "models.config"))
    assert entries and all(e.base_path.startswith("/models/") for e in entries)
    compose = yaml.safe_load((deploy / "docker-compose.yml").read_text())
    service = next(iter(compose["services"].values()))
    assert service["image"].startswith("tensorflow/serving:")
    assert "--model_config_file=/config/models.config" in service["command"]
    assert "./models.config:/config/models.config:ro" in service["volumes"]
    docs = list(yaml.safe_load_all((deploy / "k8s" / "tensorflow-serving.yaml").read_text()))
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap"} <= kinds
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("tensorflow/serving:")
    assert any("--model_config_file=" in a for a in container["args"])
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert any(
        a.split("=", 1)[1].startswith(tuple(mounts)) for a in container["args"] if a.startswith("--model_config_file=")
    )


def test_serving_package_imports_asmg_tf_first():
    import ast

    tree = ast.parse((REPO / "serving" / "__init__.py").read_text())
    first = next(node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))
    assert isinstance(first, ast.Import) and first.names[0].name == "asmg_tf"
