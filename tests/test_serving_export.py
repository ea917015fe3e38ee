"""SavedModel export for TF Serving: layout, atomic writes, signatures, scores, OOV rows, ops, warm-up, config."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf
import yaml
from serving_util import NUM_CATEGORIES, NUM_ITEMS, NUM_USERS, keras_probs, oov_reference, pad, tiny_model

from asmg_tf.locking import LOCK_FILE
from asmg_tf.models.ranker import RankerContractError
from asmg_tf.models.registry import describe
from asmg_tf.models.weights import get_weights
from serving import schema as S
from serving.export import export_model, list_versions, model_from_weights
from serving.model_config import ModelEntry, canary_entry, format_config, read_model_config, write_model_config
from serving.warmup import read_warmup

REPO = pathlib.Path(__file__).resolve().parents[1]
ROWS = [(0, 3, [1, 2]), (1, 4, [3]), (6, 10, []), (2, 0, [9, 8, 7, 6])]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model, table = tiny_model()
    base = tmp_path_factory.mktemp("models")
    path = export_model(model, str(base), "asmg", version=1, item_categories=table)
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


def test_layout_versions_and_atomic_rename(exported, tmp_path):
    model, table, path = exported
    assert path.endswith(os.path.join("asmg", "1"))
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(path))
    assert set(os.listdir(os.path.join(path, "assets.extra"))) == {S.WARMUP_FILE, "asmg_export.json"}
    assert set(os.listdir(os.path.dirname(path))) - {LOCK_FILE} == {"1"}  # no staging folder left behind
    with pytest.raises(FileExistsError, match="immutable"):
        export_model(model, os.path.dirname(os.path.dirname(path)), "asmg", version=1, item_categories=table)
    before = int(time.time())
    auto = export_model(model, str(tmp_path), "m", item_categories=table, warmup=False)
    assert int(os.path.basename(auto)) >= before
    again = export_model(model, str(tmp_path), "m", item_categories=table, warmup=False)
    assert int(os.path.basename(again)) > int(os.path.basename(auto))
    assert list_versions(str(tmp_path / "m")) == sorted([int(os.path.basename(auto)), int(os.path.basename(again))])


def test_failed_export_leaves_no_version(tmp_path, monkeypatch):
    model, table = tiny_model()

    def boom(*_):
        raise OSError("disk full (injected)")

    monkeypatch.setattr("serving.export.write_warmup", boom)
    with pytest.raises(OSError, match="injected"):
        export_model(model, str(tmp_path), "asmg", version=5, item_categories=table)
    assert set(os.listdir(tmp_path / "asmg")) - {LOCK_FILE} == set()


def test_saved_model_cli_lists_the_signatures(exported):
    cli = REPO / ".venv" / "bin" / "saved_model_cli"
    out = subprocess.run([str(cli), "show", "--dir", exported[2], "--all"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    for name in S.SIGNATURES:
        assert f"signature_def['{name}']" in out.stdout
    assert "inputs['examples'] tensor_info" in out.stdout
    assert "tensorflow/serving/classify" in out.stdout and "tensorflow/serving/regress" in out.stdout


def test_signatures_match_the_keras_model(exported):
    model, table, path = exported
    hist_rows = [r[2] for r in ROWS]
    users, items = np.array([r[0] for r in ROWS]), np.array([r[1] for r in ROWS])
    expected = keras_probs(model, table, users, items, hist_rows)
    with loaded(path) as (sess, meta):
        examples = S.serialize_examples([{"user": u, "item": i, "hist": h} for u, i, h in ROWS])
        got = run(sess, meta, S.DEFAULT_SIGNATURE, {S.EXAMPLES: examples})
        np.testing.assert_allclose(got[S.PROBABILITY], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[S.LOGIT], np.log(expected / (1 - expected)), rtol=1e-4, atol=1e-5)

        hist, hist_len = pad(hist_rows)
        raw = {
            "user": users,
            "item": items,
            "hist": hist,
            "hist_len": hist_len,
            "item_cats": table[items],
            "hist_cats": table[hist],
        }
        got = run(sess, meta, S.RAW_SIGNATURE, {k: np.asarray(v, np.int64) for k, v in raw.items()})
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
                "user": np.array([2], np.int64),
                "hist": np.array([[5, 1]], np.int64),
                "hist_len": np.array([2], np.int64),
                "candidates": candidates[None].astype(np.int64),
                "k": np.array([4], np.int64),
            },
        )
        order = np.argsort(-all_scores)[:4]
        assert ranked[S.ITEM_IDS].tolist() == [candidates[order].tolist()]
        np.testing.assert_allclose(ranked[S.SCORES][0], all_scores[order], rtol=1e-5)
        big_k = run(
            sess,
            meta,
            S.RANK_SIGNATURE,
            {
                "user": np.array([2], np.int64),
                "hist": np.array([[5, 1]], np.int64),
                "hist_len": np.array([2], np.int64),
                "candidates": np.array([[3, 1]], np.int64),
                "k": np.array([50], np.int64),
            },
        )
        assert big_k[S.ITEM_IDS].shape == (1, 2)  # k' = min(k, N)


def test_long_histories_keep_the_most_recent_max_hist(exported):
    model, table, path = exported
    long = [i % NUM_ITEMS for i in range(S.MAX_HIST + 7)]
    want = keras_probs(model, table, [1], [2], [long[: S.MAX_HIST]])
    with loaded(path) as (sess, meta):
        got = run(
            sess, meta, S.DEFAULT_SIGNATURE, {S.EXAMPLES: S.serialize_examples([{"user": 1, "item": 2, "hist": long}])}
        )
    np.testing.assert_allclose(got[S.PROBABILITY], want, rtol=1e-5, atol=1e-6)


def test_unknown_ids_use_the_mean_row(exported):
    model, table, path = exported
    reference, ref_table = oov_reference(model, table)
    # unknown user (too large, negative), unknown item, unknown history item; n is the OOV row of each table
    rows = [(NUM_USERS + 5, 3, [1]), (-2, 4, [2]), (1, NUM_ITEMS + 100, [3]), (0, 2, [-1, NUM_ITEMS])]
    mapped = [
        (NUM_USERS, 3, [1]),
        (NUM_USERS, 4, [2]),
        (1, NUM_ITEMS, [3]),
        (0, 2, [NUM_ITEMS, NUM_ITEMS]),
    ]
    expected = keras_probs(reference, ref_table, [r[0] for r in mapped], [r[1] for r in mapped], [r[2] for r in mapped])
    with loaded(path) as (sess, meta):
        got = run(
            sess,
            meta,
            S.DEFAULT_SIGNATURE,
            {S.EXAMPLES: S.serialize_examples([{"user": u, "item": i, "hist": h} for u, i, h in rows])},
        )
        np.testing.assert_allclose(got[S.PROBABILITY], expected, rtol=1e-5, atol=1e-6)
        # out-of-range categories on predict_raw map to the category OOV row; -1 stays padding
        raw = {
            "user": np.array([0], np.int64),
            "item": np.array([3], np.int64),
            "hist": np.array([[1]], np.int64),
            "hist_len": np.array([1], np.int64),
            "item_cats": np.array([[NUM_CATEGORIES + 9, -1]], np.int64),
            "hist_cats": np.array([[[0, -1]]], np.int64),
        }
        ext = reference(
            {
                "user": tf.constant([0]),
                "item": tf.constant([3]),
                "hist": tf.constant([[1]]),
                "hist_len": tf.constant([1]),
                "item_cats": tf.constant([[NUM_CATEGORIES, -1]]),
                "hist_cats": tf.constant([[[0, -1]]]),
            }
        )
        np.testing.assert_allclose(
            run(sess, meta, S.RAW_SIGNATURE, raw)[S.PROBABILITY], tf.sigmoid(ext).numpy(), rtol=1e-5
        )


def test_graph_has_only_core_ops(exported):
    with loaded(exported[2]) as (_, meta):
        graph = meta.graph_def
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    not_core = sorted(op for op in ops if not hasattr(tf.raw_ops, op))
    assert not not_core, f"ops outside core TensorFlow: {not_core}"
    assert not ops & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}, "Python ops cannot run in TF Serving"
    assert {"ParseExampleV2", "TopKV2", "ResourceGather", "MatMul"} <= ops


def test_warmup_records_replay(exported):
    from serving.server.inference import replay_warmup
    from serving.server.servable import Servable

    logs = read_warmup(exported[2])
    kinds = [log.WhichOneof("log_type") for log in logs]
    assert kinds.count("predict_log") == 4 and "classify_log" in kinds and "regress_log" in kinds
    servable = Servable("asmg", 1, exported[2])
    try:
        assert replay_warmup(servable, logs) == len(logs)
    finally:
        servable.close()


def test_model_without_categories_and_rebuild_from_weights(tmp_path):
    model, _ = tiny_model(categories=False, seed=3)
    rebuilt = model_from_weights(get_weights(model), describe(model))
    assert rebuilt.hidden_units == model.hidden_units and rebuilt.num_categories == 0
    path = export_model(rebuilt, str(tmp_path), "plain", version=2)
    with loaded(path) as (sess, meta):
        assert sorted(meta.signature_def[S.RAW_SIGNATURE].inputs) == ["hist", "hist_len", "item", "user"]
        hist, hist_len = pad([[1, 2], []])
        got = run(
            sess,
            meta,
            S.RAW_SIGNATURE,
            {
                "user": np.array([0, 5]),
                "item": np.array([3, 9]),
                "hist": hist.astype(np.int64),
                "hist_len": hist_len.astype(np.int64),
            },
        )
    np.testing.assert_allclose(
        got[S.PROBABILITY], keras_probs(model, None, [0, 5], [3, 9], [[1, 2], []]), rtol=1e-5, atol=1e-6
    )


def test_export_rejects_bad_arguments(tmp_path):
    model, table = tiny_model()
    with pytest.raises(ValueError, match="pass item_categories"):
        export_model(model, str(tmp_path), "asmg", version=1)
    with pytest.raises(ValueError, match="must be int"):
        export_model(model, str(tmp_path), "asmg", version=1, item_categories=table[:3])
    with pytest.raises(ValueError, match="values must lie"):
        export_model(model, str(tmp_path), "asmg", version=1, item_categories=table + NUM_CATEGORIES)
    with pytest.raises(ValueError, match="single path component"):
        export_model(model, str(tmp_path), "a/b", version=1, item_categories=table)
    with pytest.raises(ValueError, match="positive"):
        export_model(model, str(tmp_path), "asmg", version=0, item_categories=table)
    plain, _ = tiny_model(categories=False)
    with pytest.raises(ValueError, match="must be None"):
        export_model(plain, str(tmp_path), "p", version=1, item_categories=table)
    with pytest.raises(RankerContractError, match="not a registered ranker"):
        export_model(tf.keras.Sequential([tf.keras.layers.Dense(1)]), str(tmp_path), "x", version=1)
    assert list_versions(str(tmp_path / "asmg")) == []


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
