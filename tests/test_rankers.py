"""Any ranker through the package: the contract and its named errors, the shipped rankers (embedding_mlp, dcn_v2,
din) and a user's module file (the README's example, executed as printed) through bench, the pipeline, export and
serving (gRPC Predict and Rank), with every id table growing when new ids arrive."""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf
from serving_util import asmg_serve, keras_probs

import asmg_tf  # noqa: F401
from asmg_cli.main import main as asmg_main
from asmg_tf.data.vocab import IdVocabulary
from asmg_tf.model_names import SHIPPED_RANKERS
from asmg_tf.models import Ranker, RankerContractError, check_ranker, register_ranker
from asmg_tf.models.presets import TrainConfig
from asmg_tf.models.registry import build_ranker, describe, from_description, import_model_module, ranker_names
from asmg_tf.models.weights import get_weights, set_weights
from asmg_tf.training.loop import compile_model, make_optimizer
from asmg_tf.training.state import create_slots
from serving.client import ServingClient
from serving.export import export_model
from serving.model_config import ModelEntry
from serving.server import LocalServer

REPO = pathlib.Path(__file__).resolve().parents[1]
SHIPPED = list(SHIPPED_RANKERS)
USER = "dot_tower"  # the README example's name
USERS, ITEMS, CATS = 9, 13, 4
#: raw ids of the tables' rows, as served: integer users that are not their rows (raw "0" is row 1), stock codes
VOCAB = IdVocabulary(
    ["17850", "0", "13047", "12583", "3", "13748", "15100", "15291", "14688"],
    ["85123A", "71053", "84406B", "84029G", "84029E", "22752", "21730", "22633", "22632", "84879", "22745", "22748",
     "POST"],
)  # fmt: skip


def raw(space: str, rows) -> list[str]:
    return VOCAB.raw(space, np.asarray(rows, np.int64)).tolist()


def readme_example() -> str:
    """The first python block of the README's "Use your own model" section, as printed."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Use your own model", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def user_module(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("user") / "my_ranker.py"
    path.write_text(readme_example())
    import_model_module(str(path))
    return str(path)


def _built(name: str, seed: int = 1, users: int = USERS, items: int = ITEMS, cats: int = CATS) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    model = build_ranker(name, users, items, cats, embedding_dim=4)
    model(model.example_features())
    return model


def _categories(seed: int = 0) -> np.ndarray:
    table = np.random.RandomState(seed).randint(-1, CATS, size=(ITEMS, 2)).astype(np.int32)
    table[:, 0] = np.abs(table[:, 0])
    return table


# -- the contract -----------------------------------------------------------------------------------------------------
def test_registry_lists_the_shipped_rankers_first(user_module, capsys):
    assert ranker_names()[:3] == SHIPPED and USER in ranker_names()
    assert asmg_main(["bench", "--list-models"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == SHIPPED
    assert asmg_main(["bench", "--list-models", "--model-module", user_module]) == 0
    assert USER in capsys.readouterr().out.split()


@pytest.mark.parametrize("name", [*SHIPPED, USER])
def test_each_ranker_keeps_the_contract_and_rebuilds_from_its_description(name, user_module):
    model = _built(name)
    tables = check_ranker(model)
    assert sorted(set(tables.values())) == (["categories", "items", "users"] if name != USER else ["items", "users"])
    clone = from_description(json.loads(json.dumps(describe(model))))
    clone(clone.example_features())
    set_weights(clone, get_weights(model))
    features = {k: tf.ones_like(v) for k, v in model.example_features(batch_size=3).items()}
    np.testing.assert_allclose(clone(features).numpy(), model(features).numpy(), rtol=1e-6)


def test_contract_breaks_are_named():
    class Unregistered(Ranker):
        def call(self, features, training=False):
            return tf.zeros_like(tf.cast(features["user"], tf.float32))

    @register_ranker("no_tables")
    class NoTables(Ranker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.users = tf.keras.layers.Embedding(self.num_users, 2, name="users")

        def call(self, features, training=False):
            return tf.reduce_sum(self.users(features["user"]), -1)

    @register_ranker("wrong_table")
    class WrongTable(NoTables):
        ranker_name = "wrong_table"

        def id_tables(self):
            return {"user/embeddings": "users"}

    @register_ranker("wrong_shape")
    class WrongShape(NoTables):
        def id_tables(self):
            return {"users/embeddings": "users", "users/embeddings_": "items"}

        def call(self, features, training=False):
            return self.users(features["user"])  # [B, 2], not logits [B]

    def built(cls):
        model = cls(5, 6)
        model(model.example_features())
        return model

    for cls, message in [
        (Unregistered, "not a registered ranker"),
        (NoTables, "must define id_tables"),
        (WrongTable, "names 'user/embeddings', which is not a trainable variable"),
    ]:
        with pytest.raises(RankerContractError, match=re.escape(message)):
            check_ranker(built(cls))
    with pytest.raises(RankerContractError, match="not a trainable variable"):
        check_ranker(built(WrongShape))
    with pytest.raises(RankerContractError, match="not built"):
        check_ranker(WrongTable(5, 6))
    with pytest.raises(RankerContractError, match="not a registered ranker"):  # export says the same
        export_model(built(Unregistered), "unused", "x", version=1, vocabulary=IdVocabulary(list("abcde"), "123456"))
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_ranker("nope", 3, 3)
    with pytest.raises(ValueError, match="does not take these options"):
        build_ranker("dcn_v2", 3, 3, cross_depth=2)
    from asmg_tf.training.pretrain import build_model

    periods = type("Sizes", (), {"num_users": 5, "num_items": 6, "num_categories": 0})
    with pytest.raises(RankerContractError, match="must define id_tables"):  # bench and pipeline build through it
        build_model(periods, TrainConfig(model="no_tables"))


def test_a_ranker_returning_the_wrong_shape_is_named():
    @register_ranker("wide_logits")
    class WideLogits(Ranker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.users = tf.keras.layers.Embedding(self.num_users, 2, name="users")
            self.items = tf.keras.layers.Embedding(self.num_items, 2, name="items")

        def call(self, features, training=False):
            return self.users(features["user"]) * self.items(features["item"])

        def id_tables(self):
            return {"users/embeddings": "users", "items/embeddings": "items"}

    model = WideLogits(4, 4)
    model(model.example_features())
    with pytest.raises(RankerContractError, match=r"logits of shape \[B\]"):
        check_ranker(model)


def test_pipeline_checks_the_model_and_its_module_before_any_run(user_module, tmp_path):
    import argparse

    from pipeline.commands import _model_knobs

    def knobs(model=None, module=None, options=()):
        return _model_knobs(argparse.Namespace(model=model, model_option=list(options), model_module=module))

    assert knobs() == {}
    assert knobs("din", options=[("attention_units", [8])])["model_options"] == {"attention_units": [8]}
    assert knobs("dot_tower", user_module)["model_module"] == user_module
    with pytest.raises(ValueError, match="unknown model 'no_such_model'"):
        knobs("no_such_model", user_module)
    without_run_fn = tmp_path / "plain.py"
    without_run_fn.write_text(readme_example().replace("from pipeline.trainer_module import run_fn", "import os"))
    with pytest.raises(ValueError, match="defines no run_fn"):
        knobs("dot_tower", str(without_run_fn))
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_package\n")
    with pytest.raises(ValueError, match="failed to import: ModuleNotFoundError"):
        knobs("dot_tower", str(broken))


# -- growth of every id table ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*SHIPPED, USER])
def test_every_id_table_grows_when_new_ids_arrive(name, user_module):
    """The Trainer's growth (pipeline.capacity): old rows and Adam slots kept, new rows from a fresh model of the
    new size, zero slots; variables that are not id tables unchanged."""
    from pipeline.capacity import fresh_weights, transfer_trainable

    config = TrainConfig(model=name, embedding_dim=4)
    small, small_opt = _built(name), make_optimizer(0.01)
    compile_model(small, small_opt)
    create_slots(small, small_opt)
    for var in small.trainable_variables:
        small_opt.get_slot(var, "m").assign(tf.ones_like(var))
    capacity = {"users": USERS + 5, "items": ITEMS + 7, "categories": CATS + 2}
    big = from_description(describe(small), capacity)
    big(big.example_features())
    big_opt = make_optimizer(0.01)
    compile_model(big, big_opt)
    fresh = fresh_weights(capacity, config, span=3)
    transfer_trainable(small, small_opt, big, big_opt, fresh)
    old, new, tables = get_weights(small), get_weights(big), big.id_tables()
    assert tables and set(tables) == set(small.id_tables())
    for key, value in old.items():
        if key in tables:
            rows = capacity[tables[key]]
            assert new[key].shape[0] == rows > value.shape[0], key
            np.testing.assert_array_equal(new[key][: value.shape[0]], value)
            np.testing.assert_array_equal(new[key][value.shape[0] :], fresh[key][value.shape[0] :])
        else:
            np.testing.assert_array_equal(new[key], value)
    for var in big.trainable_variables:
        slot = big_opt.get_slot(var, "m").numpy()
        key = var.name.split(":")[0].split("/", 1)[1]
        n = old[key].shape[0] if key in tables else slot.shape[0]
        assert slot[:n].min() == slot[:n].max() == 1.0 and not slot[n:].any(), key


@pytest.mark.parametrize("name", [*SHIPPED, USER])
def test_generator_state_grows_with_every_id_table(name, user_module):
    """Per-row hidden states of the coordinate-wise GRU get zero rows for new ids (as the first window starts);
    generator weights and the hidden states of dense variables are carried as they are."""
    from asmg_tf.generator import GeneratorState, MetaGenerator, model_spec
    from pipeline.capacity import grow_generator_state

    def state(model):
        s = GeneratorState(
            MetaGenerator(model_spec(model), hidden_size=3, window=2, seed=1), make_optimizer(0.01), True
        )
        s.ensure_slots()
        return s

    small = _built(name)
    big = from_description(describe(small), {"users": USERS + 4, "items": ITEMS + 3, "categories": CATS + 1})
    big(big.example_features())
    old, new = state(small), state(big)
    for h in old.hidden:
        h.assign(tf.ones_like(h))
    grow_generator_state(old, new)
    tables = small.id_tables()
    specs = {s.key: s for s in new.generator.specs}
    assert {k for k, s in specs.items() if s.kind == "table"} == set(tables)
    for key, h_old, h_new in zip(old._keys, old.hidden, new.hidden):
        rows = h_old.shape[0]
        np.testing.assert_array_equal(h_new.numpy()[:rows], 1.0)
        assert h_new.shape[0] > rows if key in tables else h_new.shape == h_old.shape, key
        assert not h_new.numpy()[rows:].any()


# -- export and serving ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*SHIPPED, USER])
def test_export_serves_predict_and_rank_over_grpc(name, user_module, tmp_path):
    model, table = _built(name, seed=4), _categories()
    path = export_model(model, str(tmp_path), name, version=1, item_categories=table, vocabulary=VOCAB)
    info = json.loads((pathlib.Path(path) / "assets.extra" / "asmg_export.json").read_text())
    assert info["model"] == name
    server = LocalServer([ModelEntry(name, str(tmp_path / name))], poll_seconds=0.2, log=lambda m: None)
    try:
        with ServingClient(server.target, name, timeout_s=20) as client:
            users, items, hists = [0, 3, 8], [2, 12, 5], [[1, 4], [], [7, 7, 9]]  # rows; the requests send raw ids
            rows = [
                {"user": u, "item": i, "hist": h}
                for u, i, h in zip(raw("users", users), raw("items", items), [raw("items", h) for h in hists])
            ]
            got = client.predict_examples(rows)  # serving_default: tf.Examples, categories from the exported table
            want = keras_probs(model, table, users, items, hists)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            got = client.predict_ids([r["user"] for r in rows], [r["item"] for r in rows], [r["hist"] for r in rows])
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            candidates = [3, 9, 1, 11]
            top = client.rank(raw("users", [2])[0], raw("items", candidates), raw("items", [5, 6]), k=3)
            want = keras_probs(model, table, [2] * 4, candidates, [[5, 6]] * 4)
            assert [i for i, _ in top] == raw("items", [candidates[j] for j in np.argsort(-want)[:3]])
            np.testing.assert_allclose([s for _, s in top], np.sort(want)[::-1][:3], rtol=1e-5)
    finally:
        server.stop()


# -- bench, then `asmg export` and `asmg serve` ------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", [*SHIPPED, USER])
def test_bench_on_a_real_slice_then_export_and_serve(name, user_module, shared_data, tmp_path):
    """IU, ASMG-GRUmulti and asmg_plus on MovieLens latest-small cut into 8 periods; the IU model of the last
    iteration exported with `asmg export` from the bench's cache (its model.json) and, for the user's model, served
    by `asmg serve` answering Predict and Rank."""
    module = ["--model-module", user_module] if name == USER else []
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["bench", "--data", str(shared_data / "movielens-latest-small"), "--num-periods", "8",
            "--pretrain-epochs", "1", "--model", name, *module, "--methods", "iu,asmg_gru_multi,asmg_plus",
            "--option", "asmg_gru_multi.k=2", "--option", "asmg_plus.k=2",
            "--out", str(out), "--cache-dir", str(cache), "--quiet", "--no-plot"]  # fmt: skip
    assert asmg_main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["model"] == name
    iu, multi, plus = (results["methods"][m] for m in ("iu", "asmg_gru_multi", "asmg_plus"))
    assert 0.55 < iu["mean_auc"] < 1.0, iu  # the ranker learns
    # the paper's generator after 2-3 meta steps per period is near chance here (its cold start, docs/results);
    # its models are generated (not IU's) and finite
    assert np.isfinite(multi["mean_logloss"]) and multi["mean_auc"] != iu["mean_auc"]
    assert plus["mean_auc"] > iu["mean_auc"] - 0.02, (plus, iu)  # the protected generator starts as IU, falls back
    (weights,) = cache.glob("*/train-*/iu/weights_007.npz")
    assert json.loads((weights.parent / "model.json").read_text())["model"] == name
    (periods,) = cache.glob("*/periods")
    from asmg_tf.data.periods import PeriodSet

    vocab = PeriodSet.load(str(periods)).id_vocabulary()  # MovieLens' own ids: served versions take these
    base = tmp_path / "models"
    # the README's command; the user's model without --periods: the vocabulary is found in the bench cache
    given = ["--periods", str(periods)] if name != USER else []
    assert asmg_main(["export", "--weights", str(weights), *given, "--base-dir", str(base), "--name", name,
                      "--version", "7", "--config-out", str(tmp_path / "models.config")]) == 0  # fmt: skip
    assert IdVocabulary.read(str(base / name / "7" / "assets")) == vocab
    if name != USER:
        return  # every ranker's export is served over gRPC above; `asmg serve` as a process once, for the user's
    with asmg_serve(str(tmp_path / "models.config")) as (target, _):
        with ServingClient(target, name, timeout_s=20) as client:
            users, items = vocab.users, vocab.items
            probs = client.predict_examples(
                [{"user": users[0], "item": items[3], "hist": [items[1], items[2]]},
                 {"user": int(users[1]), "item": items[4], "hist": []}]  # MovieLens ids are integers: ints work too
            )  # fmt: skip
            assert probs.shape == (2,) and np.all((0 < probs) & (probs < 1))
            top = client.rank(users[0], list(items[5:9]), [items[1], items[2]], k=2)
            assert len(top) == 2 and top[0][1] >= top[1][1] and {i for i, _ in top} <= set(items[5:9])


# -- the pipeline ----------------------------------------------------------------------------------------------------
PIPELINE_PROTOCOL = {"num_periods": 6, "pretrain_end": 1, "update_start": 2, "test_start": 4, "test_end": 5}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dcn_v2", "din", USER])
def test_pipeline_runs_two_update_spans_with_the_ranker(name, user_module, tmp_path):
    """Spans 2 (pretraining + IU + generator) and 3 (tables grown for the new ids: no headroom) of a small stream
    with LocalDagRunner; the Trainer, TestThenTrain and the generator rebuild the ranker (the user's from its module
    file, packaged as a wheel by TFX); span 3's push is served and ranks over gRPC."""
    from asmg_tf.data.synthetic import synthetic_stream
    from pipeline import model_io
    from pipeline.runners.local import LocalPipeline, knobs_from_spans
    from pipeline.spans import write_spans

    spans = str(tmp_path / "spans")
    write_spans(synthetic_stream(seed=5, num_users=150, num_items=90, num_periods=6), spans, split="day",
                num_periods=6)  # fmt: skip
    knobs = knobs_from_spans(
        spans, protocol=PIPELINE_PROTOCOL, pretrain_epochs=1, model=name, method_options={"k": 2},
        capacity_headroom=0.0, model_module=user_module if name == USER else None,
    )  # fmt: skip
    lp = LocalPipeline.create(str(tmp_path / "root"), knobs)
    lp.backfill(last=3, progress=False)
    assert {2, 3} <= lp.finished()
    from pipeline.metrics_report import metrics_rows

    rows = metrics_rows(lp.metadata_path)
    # scored test-then-train (one pretraining epoch on a tiny stream: a smoke run, not a quality check)
    assert 0.0 < rows[3]["iu"]["auc"] < 1.0 and 0.0 < rows[3]["served"]["auc"] < 1.0, rows[3]
    models = sorted((tmp_path / "root" / "tfx" / "Trainer" / "model").iterdir(), key=lambda p: int(p.name))
    infos = [model_io.read_info(str(m)) for m in models]
    assert [i["model"] for i in infos] == [name, name]
    grown = [i["capacity"] for i in infos]
    assert grown[1]["users"] > grown[0]["users"] and grown[1]["items"] >= grown[0]["items"], grown
    server = LocalServer([ModelEntry("asmg", lp.serving_dir)], poll_seconds=0.2, log=lambda m: None)
    try:
        with ServingClient(server.target, "asmg", timeout_s=20) as client:
            assert client.wait_until_available(3) == 3
            from serving.score import version_vocabulary

            vocab = version_vocabulary(str(pathlib.Path(lp.serving_dir) / "3"))  # the stream's raw ids
            items = vocab.items
            top = client.rank(vocab.users[0], list(items[1:6]), [items[6], items[7]], k=3)
            assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1] and {i for i, _ in top} <= set(items[1:6])
    finally:
        server.stop()
