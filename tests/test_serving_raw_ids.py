"""Train/serve consistency in the callers' own ids: ``asmg serve``'s gRPC answers for raw-id requests equal the trained
model's in-process scores of the same samples, on Online Retail (integer customers, stock-code items such as
"85123A") and on MovieLens latest-small (integer ids that are not their rows: raw user "5" is row 4, and row 5 is
raw user "6"), so an id that is also a valid row index is scored as the raw id it is."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from serving_util import asmg_serve

from asmg_tf.data.load import load_period_set
from asmg_tf.models.presets import preset
from asmg_tf.training.loop import predict_logits, train_epoch
from asmg_tf.training.pretrain import new_trainable
from serving.client import ServingClient
from serving.errors import InvalidRequestError
from serving.export import export_model
from serving.model_config import ModelEntry, write_model_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = {"retail": "online-retail-uci", "movies": "movielens-latest-small"}
MODEL_NAMES = {"retail": "asmg", "movies": "movies"}  # the README's examples ask for "asmg", Online Retail's
SAMPLES = 400


@pytest.fixture(scope="module")
def trained(shared_data, tmp_path_factory):
    """Per dataset: (period set, model trained one epoch on period 1, raw-id samples of period 31); both exported."""
    base = tmp_path_factory.mktemp("models")
    out, entries = {}, []
    for name, folder in DATASETS.items():
        periods = load_period_set(str(shared_data / folder))
        config = preset(periods.kind)
        model, _ = new_trainable(periods, config)
        train_epoch(model, periods.period(1), periods.item_categories, config.batch_size, seed=1)
        last = periods.period(periods.protocol.num_periods)
        sample = last.take(np.random.default_rng(0).choice(len(last), SAMPLES, replace=False))
        model_name = MODEL_NAMES[name]
        export_model(
            model, str(base), model_name, 1, periods.item_categories, vocabulary=periods.id_vocabulary(), warmup=True
        )
        entries.append(ModelEntry(model_name, str(base / model_name)))
        out[name] = (periods, model, sample)
    write_model_config(str(base / "models.config"), entries)
    return base, out


@pytest.fixture(scope="module")
def server(trained):
    """``asmg serve`` as a process, serving both models (loopback, ephemeral ports): ``(grpc, rest)`` targets."""
    base, _ = trained
    with asmg_serve(str(base / "models.config")) as targets:
        yield targets


@pytest.fixture(scope="module")
def grpc_target(server) -> str:
    return server[0]


def _keras_probs(model, periods, data) -> np.ndarray:
    return tf.sigmoid(predict_logits(model, data, periods.item_categories)).numpy()


def _raw_rows(periods, data) -> list[dict]:
    vocab = periods.id_vocabulary()
    users, items, hist = vocab.raw("users", data.user), vocab.raw("items", data.item), vocab.raw("items", data.hist)
    return [
        {"user": u, "item": i, "hist": h[:n].tolist()}
        for u, i, h, n in zip(users, items, hist, data.hist_len.tolist(), strict=True)
    ]


@pytest.mark.parametrize("name", list(DATASETS))
def test_grpc_answers_for_raw_ids_equal_the_trained_model(trained, grpc_target, name):
    _, models = trained
    periods, model, sample = models[name]
    want = _keras_probs(model, periods, sample)
    rows = _raw_rows(periods, sample)
    with ServingClient(grpc_target, MODEL_NAMES[name], timeout_s=30) as client:
        by_examples = client.predict_examples(rows)
        by_tensors = client.predict_ids([r["user"] for r in rows], [r["item"] for r in rows], [r["hist"] for r in rows])
    assert np.max(np.abs(by_examples - want)) <= 1e-6
    assert np.max(np.abs(by_tensors - want)) <= 1e-6
    assert np.std(want) > 1e-3  # a trained model that tells the samples apart, not a constant


def test_retail_ids_are_the_data_s_own(trained):
    periods = trained[1]["retail"][0]
    vocab = periods.id_vocabulary()
    assert "85123A" in vocab.items and "17850" in vocab.users
    assert vocab.integer("users") and not vocab.integer("items")


def test_a_raw_id_that_is_also_a_row_index_is_scored_as_the_raw_id(trained, grpc_target):
    _, models = trained
    periods, model, sample = models["movies"]
    vocab = periods.id_vocabulary()
    assert vocab.users[:3] == ("1", "2", "3")  # raw user r is row r - 1
    one = sample.take(np.arange(1))
    rows = []
    for raw in ("5", 5):  # the id as text and as an integer: the same user
        row = _raw_rows(periods, one)[0]
        rows.append({**row, "user": raw})
    with ServingClient(grpc_target, "movies", timeout_s=30) as client:
        served = client.predict_examples(rows)
    own, index = one.take([0]), one.take([0])
    own.user = np.array([vocab.users.index("5")], np.int32)  # row 4: raw user "5"
    index.user = np.array([5], np.int32)  # row 5 is raw user "6"
    assert vocab.users[5] == "6"
    want, wrong = _keras_probs(model, periods, own)[0], _keras_probs(model, periods, index)[0]
    assert abs(want - wrong) > 1e-4  # the two readings really differ
    np.testing.assert_allclose(served, [want, want], atol=1e-6)


def test_rank_returns_the_raw_item_ids(trained, grpc_target):
    _, models = trained
    periods, model, sample = models["retail"]
    row = _raw_rows(periods, sample.take(np.arange(1)))[0]
    candidates = ["85123A", "71053", "84406B", "22423", "not-a-stock-code"]
    with ServingClient(grpc_target, "asmg", timeout_s=30) as client:
        top = client.rank(row["user"], candidates, row["hist"], k=3)
        each = client.predict_examples([{**row, "item": c} for c in candidates])
    assert [item for item, _ in top] == [candidates[i] for i in np.argsort(-each, kind="stable")[:3]]
    np.testing.assert_allclose([s for _, s in top], np.sort(each)[::-1][:3], atol=1e-6)


def test_bad_ids_are_invalid_argument_naming_the_feature(trained, grpc_target):
    _, models = trained
    periods, _, sample = models["retail"]
    row = _raw_rows(periods, sample.take(np.arange(1)))[0]
    with ServingClient(grpc_target, "asmg", timeout_s=30) as client:
        with pytest.raises(InvalidRequestError, match="user: this model has integer user ids, got"):
            client.predict_examples([{**row, "user": "not-a-customer"}])
        with pytest.raises(InvalidRequestError, match="hist: at most 30"):
            client.predict_examples([{**row, "hist": ["85123A"] * 31}])
        # stock codes are strings: an int64 item is refused, not read as some code; a float id never is one
        for item, message in (
            (tf.train.Feature(int64_list=tf.train.Int64List(value=[85123])), "item: this model has string item ids"),
            (tf.train.Feature(float_list=tf.train.FloatList(value=[1.0])), "item: .*not float|Key: item"),
        ):
            example = tf.train.Example(features=tf.train.Features(feature={
                "user": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"17850"])), "item": item,
            }))  # fmt: skip
            with pytest.raises(InvalidRequestError, match=message):
                client.predict_examples([example])


def test_integer_ids_may_travel_as_int64(trained, grpc_target):
    """MovieLens ids are integers: an ``int64_list`` tf.Example and an integer given to the client are the same id."""
    _, models = trained
    periods, model, sample = models["movies"]
    rows = _raw_rows(periods, sample.take(np.arange(5)))
    as_int64 = [
        tf.train.Example(features=tf.train.Features(feature={
            "user": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(r["user"])])),
            "item": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(r["item"])])),
            "hist": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(h) for h in r["hist"]])),
        }))
        for r in rows
    ]  # fmt: skip
    with ServingClient(grpc_target, "movies", timeout_s=30) as client:
        text = client.predict_examples(rows)
        int64 = client.predict_examples(as_int64)
        ints = client.predict_ids([int(r["user"]) for r in rows], [int(r["item"]) for r in rows],
                                  [[int(h) for h in r["hist"]] for r in rows])  # fmt: skip
    np.testing.assert_allclose(int64, text, atol=1e-7)
    np.testing.assert_allclose(ints, text, atol=1e-7)
    np.testing.assert_allclose(text, _keras_probs(model, periods, sample.take(np.arange(5))), atol=1e-6)


def test_asmg_export_finds_the_bench_cache_vocabulary(trained, tmp_path):
    """``asmg export`` of IU weights in ``asmg bench``'s cache layout needs no vocabulary flag; without one it fails
    with a message naming the ways to give it."""
    from asmg_cli.main import main as asmg_main
    from asmg_tf.models.registry import describe
    from asmg_tf.models.weights import get_weights, save_weights_npz
    from serving.score import version_vocabulary

    _, models = trained
    periods, model, _ = models["retail"]
    data = tmp_path / "cache" / "online-retail-uci-0123"
    periods.save(str(data / "periods"))
    iu = data / "train-4567" / "iu"
    iu.mkdir(parents=True)
    save_weights_npz(str(iu / "weights_030.npz"), get_weights(model))
    (iu / "model.json").write_text(json.dumps(describe(model)))
    assert asmg_main(["export", "--weights", str(iu / "weights_030.npz"), "--base-dir", str(tmp_path / "models"),
                      "--name", "asmg", "--version", "3"]) == 0  # fmt: skip
    assert version_vocabulary(str(tmp_path / "models" / "asmg" / "3")) == periods.id_vocabulary()
    lone = tmp_path / "lone"
    lone.mkdir()
    save_weights_npz(str(lone / "weights.npz"), get_weights(model))
    (lone / "model.json").write_text(json.dumps(describe(model)))
    cmd = [sys.executable, "-m", "asmg_cli", "export", "--weights", str(lone / "weights.npz"), "--base-dir",
           str(tmp_path / "models"), "--name", "lone"]  # fmt: skip
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "cannot find the raw-id vocabulary" in run.stderr and "--vocab" in run.stderr


def test_readme_raw_id_examples_run_as_printed(trained, server):
    """The README serving section's predict, rank and curl lines and its Python example, against the Online Retail
    model served as "asmg" (only the ports 8500/8501, default or printed, are swapped for the server's free ones)."""
    grpc_port, rest_port = server[0].rsplit(":", 1)[1], server[1].rsplit(":", 1)[1]
    text = (pathlib.Path(REPO) / "README.md").read_text()
    section = text[text.index("<!-- the blocks below are run as printed by tests/test_serving_raw_ids.py") :]
    bash = section.split("```bash\n", 1)[1].split("```", 1)[0]
    python = section.split("```python\n", 1)[1].split("```", 1)[0]

    def local(command: str) -> str:
        """The ports swapped; a CLI line, which relies on the default target 127.0.0.1:8500, names the real one."""
        command = command.replace("8500", grpc_port).replace("8501", rest_port)
        if command.startswith(".venv/bin/asmg") and "--target" not in command:
            command += f" --target 127.0.0.1:{grpc_port}"
        return command

    runs = {}
    for line in bash.splitlines():
        if line.startswith((".venv/bin/asmg predict", ".venv/bin/asmg rank", "curl")):
            command = local(line.split("   #")[0])
            run = subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, (command, run.stderr[-2000:])
            runs[line.split()[1] if line.startswith(".venv") else "curl"] = run.stdout
    assert set(runs) == {"predict", "rank", "curl"}
    predicted = [json.loads(x) for x in runs["predict"].splitlines()]
    assert [(p["user"], p["item"]) for p in predicted] == [("17850", "85123A"), ("17850", "22423")]
    assert {r["item"] for r in json.loads(runs["rank"])} <= {"85123A", "22423", "47566", "84879"}
    rest = json.loads(runs["curl"])["predictions"][0]
    assert rest["click_probability"] == pytest.approx(predicted[0]["click_probability"], abs=1e-6)
    run = subprocess.run([sys.executable, "-c", local(python)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "85123A" in run.stdout
    vocab = trained[1]["retail"][0].id_vocabulary()
    for code in ("17850",):
        assert code in vocab.users
    for code in ("85123A", "22423", "47566", "84879", "71053", "84406B"):
        assert code in vocab.items  # the examples speak of real customers and stock codes, not OOV ones
