"""Executor-level tests of the pipeline's custom components, chained over a few spans of a small stream."""

import json
import os
import shutil

import numpy as np
import pytest

import asmg_tf  # noqa: F401
from asmg_tf.data.build import make_period_set
from asmg_tf.data.periods import Protocol
from asmg_tf.data.synthetic import synthetic_stream
from asmg_tf.models.weights import get_weights
from asmg_tf.training.loop import evaluate
from pipeline import model_io
from pipeline import state as S
from pipeline.examples import read_period
from pipeline.factory import train_config_dict
from pipeline.spans import EVENTS_FILE, span_dir, write_spans

tfx_types = pytest.importorskip("tfx.types")
from tfx.proto import trainer_pb2  # noqa: E402
from tfx.types import artifact_utils, standard_artifacts  # noqa: E402
from tfx.types.experimental.simple_artifacts import File  # noqa: E402

PROTOCOL = Protocol(num_periods=6, pretrain_end=2, update_start=3, test_start=5, test_end=5)
SETTINGS = {
    "explicit": False,
    "positive_rating": 4.0,
    "history_granularity": "day",
    "has_categories": True,
    "hist_len": 30,
    "sample_seed": 1234,
    "capacity_headroom": 1.0,
    "first_span": 1,
    "pretrain_end": PROTOCOL.pretrain_end,
    "update_start": PROTOCOL.update_start,
}
TRAIN = train_config_dict("tmall", pretrain_epochs=2)
PROTO = {k: getattr(PROTOCOL, k) for k in ("num_periods", "pretrain_end", "update_start", "test_start", "test_end")}


def _artifact(cls, uri, span=None, splits=None, **props):
    a = cls()
    a.uri = str(uri)
    os.makedirs(a.uri, exist_ok=True)
    if splits:
        a.split_names = artifact_utils.encode_split_names(splits)
    if span is not None:
        a.set_int_custom_property("span", span)
    for k, v in props.items():
        a.set_int_custom_property(k, v)
    return a


def _raw_span(root, spans, t):
    ev = _artifact(standard_artifacts.Examples, root / f"raw{t}", span=t, splits=["period"])
    os.makedirs(os.path.join(ev.uri, "Split-period"), exist_ok=True)
    shutil.copy(os.path.join(span_dir(spans, t), EVENTS_FILE), os.path.join(ev.uri, "Split-period"))
    an = _artifact(standard_artifacts.ExampleAnomalies, root / f"anomalies{t}", splits=["period"])
    os.makedirs(os.path.join(an.uri, "Split-period"), exist_ok=True)
    open(os.path.join(an.uri, "Split-period", "SchemaDiff.pb"), "wb").close()
    return ev, an


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Spans 1-5 through PeriodTransform; TestThenTrain, Trainer, AsmgGenerator, BlessingGate and VersionedPusher
    executors from span 3 on."""
    from pipeline.components import trainer_executor
    from pipeline.components.blessing.executor import Executor as Gate
    from pipeline.components.generator.executor import Executor as Generator
    from pipeline.components.period_transform.executor import Executor as Transform
    from pipeline.components.pusher.executor import Executor as Pusher
    from pipeline.components.test_then_train.executor import Executor as Metrics

    root = tmp_path_factory.mktemp("chain")
    inter = synthetic_stream(seed=5, num_users=200, num_items=150, num_periods=6)
    write_spans(inter, str(root / "spans"), split="day", num_periods=6)
    out = {
        "inter": inter,
        "root": root,
        "examples": {},
        "state": {},
        "model": {},
        "generated": {},
        "history": {},
        "metrics": {},
        "blessing": {},
        "pushed": {},
    }
    state = history = model = blessing = pushed = None
    for t in range(1, 6):
        ev, an = _raw_span(root, str(root / "spans"), t)
        ex = _artifact(standard_artifacts.Examples, root / f"examples{t}")
        st = _artifact(standard_artifacts.TransformCache, root / f"state{t}")
        Transform().Do(
            {"events": [ev], "anomalies": [an], "previous_state": [state] if state else []},
            {"examples": [ex], "state": [st]},
            {"settings": json.dumps(SETTINGS)},
        )
        out["examples"][t], out["state"][t], state = ex, st, st
        if t < PROTOCOL.update_start:
            continue
        ev_out = _artifact(standard_artifacts.ModelEvaluation, root / f"metrics{t}")
        Metrics().Do(
            {"examples": [ex], "history": [history] if history else [], "pushed_model": [pushed] if pushed else [],
             "previous_blessing": [blessing] if blessing else []},
            {"evaluation": [ev_out]},
            {},
        )  # fmt: skip
        m = _artifact(standard_artifacts.Model, root / f"model{t}")
        run = _artifact(standard_artifacts.ModelRun, root / f"run{t}")
        trainer_executor.Executor().Do(
            {"examples": [ex], "base_model": [model] if model else []},
            {"model": [m], "model_run": [run]},
            {
                "run_fn": "pipeline.trainer_module.run_fn",
                "train_args": json.dumps({"splits": ["period"]}),
                "eval_args": json.dumps({"splits": ["period"]}),
                "custom_config": json.dumps({"train": TRAIN, "protocol": PROTO}),
            },
        )
        g = _artifact(standard_artifacts.Model, root / f"generated{t}")
        h = _artifact(File, root / f"history{t}")
        Generator().Do(
            {"model": [m], "examples": [ex], "history": [history] if history else []},
            {"generated_model": [g], "updated_history": [h]},
            {
                "method": "asmg_gru_multi",
                "method_options": json.dumps({"k": 2}),
                "warmup_periods": 1,
                "protocol": json.dumps(PROTO),
                "train_config": json.dumps(TRAIN),
            },
        )
        b = _artifact(standard_artifacts.ModelBlessing, root / f"blessing{t}")
        Gate().Do(
            {
                "evaluation": [ev_out],
                "model": [m],
                "generated_model": [g],
                "previous_blessing": [blessing] if blessing else [],
            },
            {"blessing": [b]},
            {"window": 1, "threshold": 0.0, "metric": "auc"},
        )
        p = _artifact(standard_artifacts.PushedModel, root / f"pushed{t}")
        Pusher().Do(
            {"model": [m], "generated_model": [g], "model_blessing": [b]},
            {"pushed_model": [p]},
            {"serving_dir": str(root / "serving")},
        )
        out["metrics"][t], out["model"][t], out["generated"][t], out["history"][t] = ev_out, m, g, h
        out["blessing"][t], out["pushed"][t] = b, p
        model, history, blessing, pushed = m, h, b, p
    return out


def test_transform_builds_the_library_samples_with_append_only_ids(chain):
    lib = make_period_set(chain["inter"], split="day", num_periods=6)
    from asmg_tf.data.preprocess import build_samples

    _, info = build_samples(chain["inter"])
    previous_users: list = []
    for t in range(1, 6):
        uri = chain["examples"][t].uri
        d = read_period(S.split_files(uri, "period"))
        users = S.read_vocab(chain["state"][t].uri, "users")
        items = S.read_vocab(chain["state"][t].uri, "items")
        assert users[: len(previous_users)] == previous_users  # append-only: old indices never move
        previous_users = users
        pos = d.label > 0
        got = sorted(
            (users[u], items[i], tuple(items[x] for x in h[:n]), ts)
            for u, i, h, n, ts in zip(d.user[pos], d.item[pos], d.hist[pos], d.hist_len[pos], d.timestamp[pos])
        )
        p = lib.period(t)
        lp = p.label > 0
        want = sorted(
            (
                str(info["user_vocab"][u]),
                str(info["item_vocab"][i]),
                tuple(str(info["item_vocab"][x]) for x in h[:n]),
                ts,
            )
            for u, i, h, n, ts in zip(p.user[lp], p.item[lp], p.hist[lp], p.hist_len[lp], p.timestamp[lp])
        )
        assert got == want
        assert (d.label == 0).sum() == pos.sum()
        meta = S.read_period_meta(uri)
        assert meta["span"] == t and meta["trainable"] == (t >= PROTOCOL.update_start)
        assert meta["capacity"]["users"] >= meta["num_users"]
        splits = artifact_utils.decode_split_names(chain["examples"][t].split_names)
        assert splits == (["period", "pretrain"] if t == PROTOCOL.update_start else ["period"])
    assert not os.path.exists(os.path.join(chain["state"][5].uri, S.PRETRAIN_DIR))


def test_transform_refuses_out_of_order_spans_and_changed_settings(chain):
    from pipeline.components.period_transform.executor import check_order

    with pytest.raises(ValueError, match="needs the state after span 3"):
        check_order(chain["state"][2].uri, 4, SETTINGS)
    with pytest.raises(ValueError, match="periods must run in order"):
        check_order(None, 2, SETTINGS)
    with pytest.raises(ValueError, match="sample_seed"):
        check_order(chain["state"][2].uri, 3, {**SETTINGS, "sample_seed": 1})


def test_anomalies_stop_the_run_with_a_clear_message(tmp_path):
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    from pipeline.components.validation import SpanAnomaliesError, raise_on_anomalies

    a = anomalies_pb2.Anomalies()
    info = a.anomaly_info["item"]
    info.reason.add(description="Column is completely missing")
    an = _artifact(standard_artifacts.ExampleAnomalies, tmp_path / "an", splits=["period"])
    os.makedirs(os.path.join(an.uri, "Split-period"))
    with open(os.path.join(an.uri, "Split-period", "SchemaDiff.pb"), "wb") as f:
        f.write(a.SerializeToString())
    with pytest.raises(
        SpanAnomaliesError,
        match=r"(?s)span 7 .*nothing was trained or pushed.*feature 'item': Column is completely missing",
    ):
        raise_on_anomalies(an, 7)


def test_trainer_pretrains_once_then_warm_starts_weights_and_adam(chain):
    first = model_io.read_info(chain["model"][3].uri)
    assert first["role"] == "iu" and 1 <= first["pretrain"]["best_epoch"] <= 2
    assert chain["model"][3].get_int_custom_property("span") == 3
    second = model_io.read_info(chain["model"][4].uri)
    assert "pretrain" not in second
    assert os.path.exists(os.path.join(model_io.serving_dir(chain["model"][4].uri), "saved_model.pb"))
    # span 4 = one IU epoch on span 4 from span 3's model *and* Adam state (library code, same seed)
    import tensorflow as tf

    from asmg_tf.models.presets import TrainConfig
    from asmg_tf.training.loop import train_epoch
    from pipeline.trainer_module import iu_seed

    config = TrainConfig(**TRAIN)
    meta = S.read_period_meta(chain["examples"][4].uri)
    # whatever TF's global seed this process had (a resumed backfill starts without one), the IU epoch repeats
    tf.random.set_seed(987654)
    model, optimizer = model_io.restore_iu(chain["model"][3].uri, config, meta["capacity"], 4)
    steps_before = int(optimizer.iterations.numpy())
    assert steps_before > 0  # Adam state carried from pretraining + IU on span 3
    table = S.padded_categories(
        S.read_item_categories(os.path.join(chain["examples"][4].uri, S.PERIOD_DIR)), meta["capacity"]["items"], True
    )
    train_epoch(model, read_period(S.split_files(chain["examples"][4].uri, "period")), table, config.batch_size,
                seed=iu_seed(config, 4))  # fmt: skip
    want = get_weights(model)
    got = model_io.load_weights(chain["model"][4].uri)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_tables_grow_with_weights_and_adam_slots(chain):
    from asmg_tf.models.presets import TrainConfig

    config = TrainConfig(**TRAIN)
    info = model_io.read_info(chain["model"][4].uri)
    cap = info["capacity"]
    bigger = {**cap, "users": cap["users"] + 7, "items": cap["items"] + 3}
    small, small_opt = model_io.restore_iu(chain["model"][4].uri, config, cap, 5)
    big, big_opt = model_io.restore_iu(chain["model"][4].uri, config, bigger, 5)
    key = "user_embedding/embeddings"
    sv, bv = small.user_embedding.embeddings, big.user_embedding.embeddings
    assert bv.shape[0] == cap["users"] + 7
    np.testing.assert_array_equal(bv.numpy()[: cap["users"]], sv.numpy())
    for slot in ("m", "v"):
        np.testing.assert_array_equal(
            big_opt.get_slot(bv, slot).numpy()[: cap["users"]], small_opt.get_slot(sv, slot).numpy()
        )
        assert not big_opt.get_slot(bv, slot).numpy()[cap["users"] :].any()
    assert int(big_opt.iterations.numpy()) == int(small_opt.iterations.numpy())
    assert key in get_weights(big)


def test_generator_rolls_its_history_and_deploys_after_warmup(chain):
    g3, g4, g5 = (chain["generated"][t] for t in (3, 4, 5))
    # k = 2: the first window is spans 3-4, so span 3 cannot generate; span 4 generates (not yet trained);
    # span 5 meta-trains once (observe(4)) and, with warmup 1, deploys
    assert [g.get_int_custom_property("generated") for g in (g3, g4, g5)] == [0, 1, 1]
    assert [g.get_int_custom_property("deploy") for g in (g3, g4, g5)] == [0, 0, 1]
    assert model_io.read_info(g5.uri)["role"] == "generated"
    assert os.path.exists(os.path.join(model_io.serving_dir(g5.uri), "saved_model.pb"))
    # every Model carries the run's IU warm-start state, never the generated weights
    np.testing.assert_array_equal(
        open(os.path.join(g5.uri, "asmg", "iu_state", "ckpt.index"), "rb").read(),
        open(os.path.join(chain["model"][5].uri, "asmg", "iu_state", "ckpt.index"), "rb").read(),
    )
    from pipeline.history import History

    h = History.load(chain["history"][5].uri)
    assert h.info["iu_spans"] == [4, 5] and h.info["data_spans"] == [5] and h.info["meta_rounds"] == 1
    assert not os.path.exists(os.path.join(h.uri, "served.npz"))  # what was served is the push's, not kept here
    assert os.path.exists(os.path.join(h.generator_dir, "ckpt.index"))
    # span 4 served first (not meta-trained yet): its state is the one saved between serve(4) and observe(4)
    assert History.load(chain["history"][3].uri).extra_state() is None  # nothing served at span 3
    assert History.load(chain["history"][4].uri).extra_state()["meta_seconds"] == {}


def test_generator_component_runs_asmg_plus_with_its_comparisons_in_the_history(chain, tmp_path):
    from pipeline.components.generator.executor import Executor as Generator
    from pipeline.history import History

    history = None
    for t in range(PROTOCOL.update_start, 6):
        g = _artifact(standard_artifacts.Model, tmp_path / f"generated{t}")
        h = _artifact(File, tmp_path / f"history{t}")
        Generator().Do(
            {"model": [chain["model"][t]], "examples": [chain["examples"][t]], "history": [history] if history else []},
            {"generated_model": [g], "updated_history": [h]},
            {
                "method": "asmg_plus",
                "method_options": json.dumps({"k": 2, "extrapolation_steps": [1]}),
                "warmup_periods": 1,
                "protocol": json.dumps(PROTO),
                "train_config": json.dumps(TRAIN),
            },
        )
        history = h
    info = model_io.read_info(g.uri)
    assert info["method"] == "asmg_plus" and info["candidate"] in ("generated", "generated+1", "iu")
    extra = History.load(history.uri).extra_state()
    # observe(4) ran in span 5's run: every candidate scored on span 5, which that run had just received
    assert sorted(extra["comparisons"]) == ["4"] and sorted(extra["comparisons"]["4"]) == [
        "generated",
        "generated+1",
        "iu",
    ]
    assert extra["served"]["5"] == info["candidate"]


@pytest.mark.parametrize("name", ["iu", "bu3", "incctr", "spmf", "asmg_plus", "sml"])
def test_every_method_runs_in_the_pipeline_through_the_library_step(chain, tmp_path, name):
    """Spans 3-5 (the pretraining run, a warm-started run, a run whose item table grew) through the generator
    executor with each kind of method: the served model, the carried inputs and the restored state."""
    from asmg_tf.models.presets import TrainConfig
    from asmg_tf.training.loop import period_seed, train_epoch
    from pipeline.components.generator.executor import Executor as Generator
    from pipeline.generator_context import HistoryContext
    from pipeline.history import History

    history, generated = None, {}
    for t in range(PROTOCOL.update_start, 6):
        g = _artifact(standard_artifacts.Model, tmp_path / f"generated{t}")
        h = _artifact(File, tmp_path / f"history{t}")
        Generator().Do(
            {"model": [chain["model"][t]], "examples": [chain["examples"][t]], "history": [history] if history else []},
            {"generated_model": [g], "updated_history": [h]},
            {"method": name, "method_options": "{}", "warmup_periods": 1, "protocol": json.dumps(PROTO),
             "train_config": json.dumps(TRAIN), "data_kind": "tmall"},
        )  # fmt: skip
        history, generated[t] = h, model_io.load_weights(g.uri)
        info = History.load(h.uri).info
        assert info["method"] == name and t in info["iu_spans"]  # the next TestThenTrain scores this span's IU
        if name == "bu3":  # the next window: periods t-1 and t (t+1 comes with the next run)
            assert info["data_spans"] == [t - 1, t]
        if name == "spmf":  # its reservoir indexes every sample since period 1
            assert info["data_spans"] == list(range(1, t + 1))
    iu = {t: model_io.load_weights(chain["model"][t].uri) for t in (3, 4, 5)}
    changed = lambda a, b: any(not np.allclose(a[k], b[k]) for k in a)  # noqa: E731
    if name == "iu":
        for t in (3, 4, 5):
            assert all(np.array_equal(generated[t][k], iu[t][k]) for k in iu[t])
        return
    assert changed(generated[4], generated[3]) and changed(generated[5], generated[4])
    if name == "bu3":  # span 3: the pretrained model (Adam state included) + one epoch on periods 1-3
        meta = S.read_period_meta(chain["examples"][3].uri)
        ctx = HistoryContext(
            PROTOCOL, TrainConfig(**TRAIN), meta["capacity"], S.category_table(chain["examples"][3].uri, meta), {},
            {}, pretrained_dir=model_io.pretrained_dir(chain["model"][3].uri),
        )  # fmt: skip
        model, _ = ctx.pretrained()
        periods = [read_period(f) for _, f in sorted(_pretrain_files(chain["examples"][3].uri).items())]
        data = type(periods[0]).concat([*periods, read_period(S.split_files(chain["examples"][3].uri, "period"))])
        train_epoch(model, data, ctx.item_categories, TrainConfig(**TRAIN).batch_size, shuffle=True,
                    seed=period_seed(TrainConfig(**TRAIN).seed, 3))  # fmt: skip
        for key, value in get_weights(model).items():
            np.testing.assert_allclose(generated[3][key], value, atol=1e-6)
    if name != "asmg_plus":  # its own model, not IU's (asmg_plus may serve the IU candidate)
        assert changed(generated[5], iu[5])


def _pretrain_files(uri):
    from pipeline.trainer_module import pretrain_span_files

    return pretrain_span_files(uri)


def test_pipeline_refuses_methods_that_need_every_period():
    from pipeline.components.generator.executor import check_method, pipeline_methods

    assert {"iu", "bu3", "bu_full", "incctr", "sml", "asmg_plus", "asmg_gru_multi"} <= set(pipeline_methods())
    assert "spmf" in pipeline_methods()
    with pytest.raises(ValueError, match="every period at once"):
        check_method("sml_mf")
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        check_method("nope")


def test_test_then_train_scores_the_previous_models_on_the_new_span(chain):
    from serving.score import score_version

    m3 = S.read_json(os.path.join(chain["metrics"][3].uri, "metrics.json"))
    assert m3["served"] is None and m3["iteration"] == 2
    m5 = S.read_json(os.path.join(chain["metrics"][5].uri, "metrics.json"))
    assert m5["served_source"] == "iu" and m5["generated"] is not None  # span 4 was a warm-up span
    meta = S.read_period_meta(chain["examples"][5].uri)
    table = S.padded_categories(
        S.read_item_categories(os.path.join(chain["examples"][5].uri, S.PERIOD_DIR)), meta["capacity"]["items"], True
    )
    data = read_period(S.split_files(chain["examples"][5].uri, "period"))
    vocab = model_io.vocabulary(os.path.join(chain["examples"][5].uri, S.PERIOD_DIR))  # span 5's raw ids
    from asmg_tf.models.presets import TrainConfig

    desc = model_io.description(model_io.read_info(chain["model"][4].uri))
    grown = model_io.weights_at_capacity(  # the item table grew at span 5: new rows as the Trainer makes them
        model_io.load_weights(chain["model"][4].uri), meta["capacity"], TrainConfig(**TRAIN), 5, desc
    )
    iu4 = model_io.model_with_weights(model_io.resized(desc, meta["capacity"]), grown)
    want = evaluate(iu4, data, table)
    assert m5["iu"]["auc"] == pytest.approx(want["auc"], abs=1e-9)
    assert chain["metrics"][5].get_float_custom_property("iu_auc") == pytest.approx(want["auc"])
    # served = the pushed SavedModel (span 4's IU, trimmed to the ids known then) through serving_default
    pushed = chain["pushed"][4].get_string_custom_property("pushed_destination")
    assert pushed == str(chain["root"] / "serving" / "4")
    scored = score_version(pushed, data, vocab)
    assert m5["served"] == {"auc": scored["auc"], "logloss": scored["logloss"]}
    # the pushed version takes raw ids: its assets hold span 4's vocabularies, a prefix of span 5's (append-only)
    served_vocab = model_io.vocabulary(os.path.join(chain["examples"][4].uri, S.PERIOD_DIR))
    for space in ("users", "items"):
        with open(os.path.join(pushed, "assets", f"{space}.txt")) as f:
            assert f.read().split("\n")[:-1] == list(served_vocab.ids(space))
        assert vocab.ids(space)[: len(served_vocab.ids(space))] == served_vocab.ids(space)
    assert m5["served_full"] == m5["iu"] and m5["served_version"] == 4
    # span 5 brings ids span 4 never saw: those samples are answered from the OOV row, so the metrics differ
    cold = np.mean((data.user >= scored["num_users"]) | (data.item >= scored["num_items"]))
    assert m5["cold_start_share"] == pytest.approx(cold) and cold > 0
    # like for like: each candidate's own SavedModel scored the same way (span 4 pushed IU, so served == iu_served)
    assert m5["iu_served"] == m5["served"]
    generated4 = score_version(model_io.serving_dir(chain["generated"][4].uri), data, vocab)
    assert m5["generated_served"] == {"auc": generated4["auc"], "logloss": generated4["logloss"]}
    assert m5["served"]["auc"] != pytest.approx(m5["iu"]["auc"], abs=1e-7)
    # known ids only (user, item and every history item): the SavedModel and the full-capacity model agree
    in_hist = np.arange(data.hist.shape[1]) < data.hist_len[:, None]
    known_hist = np.all((data.hist < scored["num_items"]) | ~in_hist, axis=1)
    known = data.take((data.user < scored["num_users"]) & (data.item < scored["num_items"]) & known_hist)
    assert 10 < len(known) < len(data)
    assert score_version(pushed, known, vocab)["auc"] == pytest.approx(evaluate(iu4, known, table)["auc"], abs=1e-6)


def test_gate_blesses_only_what_the_scored_spans_support(chain):
    from pipeline.components.blessing.executor import read_record

    for t in (3, 4, 5):
        record = read_record(chain["blessing"][t].uri)
        pushed = chain["pushed"][t]
        blessed = bool(chain["blessing"][t].get_int_custom_property("blessed"))
        assert os.path.exists(os.path.join(chain["blessing"][t].uri, "BLESSED" if blessed else "NOT_BLESSED"))
        assert pushed.get_string_custom_property("source") == ("generated" if blessed else "iu")
        assert sorted(record["decisions"]) == [str(s) for s in range(3, t + 1)]  # rolled forward
    # spans 3-4: warm-up (no generated model deployable yet) -> IU
    assert [chain["blessing"][t].get_int_custom_property("blessed") for t in (3, 4)] == [0, 0]
    # span 5: the first comparison (generated_4 vs IU_4 on span 5) decides
    record = read_record(chain["blessing"][5].uri)
    m5 = S.read_json(os.path.join(chain["metrics"][5].uri, "metrics.json"))
    assert sorted(record["comparisons"]) == ["5"]
    diff = m5["generated"]["auc"] - m5["iu"]["auc"]
    assert record["decision"]["difference"] == pytest.approx(diff)
    assert record["blessed"] == (diff >= 0)


def test_pusher_pushes_once_per_span_and_never_overwrites(chain, tmp_path):
    from pipeline.components.pusher.executor import Executor as Pusher

    serving = str(tmp_path / "serving")

    def blessing(t, blessed):
        b = _artifact(standard_artifacts.ModelBlessing, tmp_path / f"blessing{t}-{blessed}", blessed=int(blessed))
        b.set_string_custom_property("current_model", chain["generated"][t].uri)
        b.set_string_custom_property("reason", "test")
        return b

    def push(t, blessed, model=None):
        out = _artifact(standard_artifacts.PushedModel, tmp_path / f"pushed{t}-{len(os.listdir(tmp_path))}")
        Pusher().Do(
            {"model": [model or chain["model"][t]], "generated_model": [chain["generated"][t]],
             "model_blessing": [blessing(t, blessed)]},
            {"pushed_model": [out]},
            {"serving_dir": serving},
        )  # fmt: skip
        return out

    p4, p5 = push(4, False), push(5, True)
    assert sorted(os.listdir(serving)) == ["4", "5"]
    assert p4.get_string_custom_property("source") == "iu" and p5.get_string_custom_property("source") == "generated"
    assert push(5, True).get_int_custom_property("copied") == 0  # a rerun finds its own push
    info = json.load(open(os.path.join(serving, "5", "assets.extra", "asmg_push.json")))
    assert info["source_uri"] == chain["generated"][5].uri
    with pytest.raises(FileExistsError, match="immutable"):
        from pipeline.components.pusher.executor import push as push_fn

        push_fn(chain["model"][5].uri, serving, 5, {})


def test_push_both_serves_the_two_models_under_stable_and_canary_labels(chain, tmp_path):
    """A/B: the blessed choice is ``stable`` (and the latest version), the other model ``canary``; ``asmg serve``
    loads the pusher's models.config and a client picks each by label, answering with that model's scores."""
    from pipeline.components.pusher.executor import Executor as Pusher
    from serving.client import ServingClient
    from serving.server import LocalServer

    serving = str(tmp_path / "serving" / "asmg")
    b = _artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing", blessed=1)
    b.set_string_custom_property("current_model", chain["generated"][5].uri)
    b.set_string_custom_property("reason", "test")
    out = _artifact(standard_artifacts.PushedModel, tmp_path / "pushed")
    Pusher().Do(
        {"model": [chain["model"][5]], "generated_model": [chain["generated"][5]], "model_blessing": [b]},
        {"pushed_model": [out]},
        {"serving_dir": serving, "push": "both"},
    )
    assert sorted(v for v in os.listdir(serving) if v.isdigit()) == ["10", "11"]
    assert out.get_int_custom_property("pushed_version") == 11 and out.get_int_custom_property("canary_version") == 10
    assert out.get_string_custom_property("canary_source") == "iu"
    for version, source, label in ((11, "generated", "stable"), (10, "iu", "canary")):
        info = json.load(open(os.path.join(serving, str(version), "assets.extra", "asmg_push.json")))
        assert (info["source"], info["label"]) == (source, label)
    vocab = model_io.vocabulary(os.path.join(chain["examples"][5].uri, S.PERIOD_DIR))
    rows = [{"user": vocab.users[u], "item": vocab.items[i], "hist": []} for u, i in ((0, 1), (1, 2), (2, 0))]
    server = LocalServer(config_file=os.path.join(serving, "models.config"), rest_port=None, poll_seconds=0)
    try:
        answers = {}
        for label in ("stable", "canary", None):
            with ServingClient(server.target, "asmg", label=label, timeout_s=30) as client:
                answers[label] = client.predict_examples(rows)
                if label is None:  # a client pinned to nothing sees every version
                    assert {s["version"]: s["state"] for s in client.status()} == {10: "AVAILABLE", 11: "AVAILABLE"}
    finally:
        server.stop()
    generated = score_rows(chain["generated"][5].uri, rows)
    iu = score_rows(chain["model"][5].uri, rows)
    np.testing.assert_allclose(answers["stable"], generated, atol=1e-6)
    np.testing.assert_allclose(answers["canary"], iu, atol=1e-6)
    np.testing.assert_allclose(answers[None], answers["stable"])  # no label: the latest, the stable one
    assert np.abs(generated - iu).max() > 1e-6  # the two models really differ


def score_rows(model_uri: str, rows: list[dict]) -> np.ndarray:
    """Click probabilities of a Model artifact's own SavedModel for raw-id rows, in process."""
    import tensorflow as tf

    from serving import schema as Sch

    fn = tf.saved_model.load(model_io.serving_dir(model_uri)).signatures[Sch.DEFAULT_SIGNATURE]
    return fn(examples=tf.constant(Sch.serialize_examples(rows)))[Sch.PROBABILITY].numpy()


def test_previous_span_strategy_picks_the_previous_span():
    from pipeline.components.resolvers import PreviousSpanStrategy

    arts = []
    for i, span in enumerate([3, 4, 4, 5]):
        a = standard_artifacts.Model()
        a.id = i + 1
        a.set_int_custom_property("span", span)
        arts.append(a)
    got = PreviousSpanStrategy(span=4).resolve_artifacts(None, {"model": arts})
    assert [a.id for a in got["model"]] == [3]
    assert PreviousSpanStrategy(span=9).resolve_artifacts(None, {"model": arts}) == {"model": []}


def test_generator_state_grows_per_row_hidden_state():
    import tensorflow as tf

    from asmg_tf.generator import GeneratorState, MetaGenerator, model_spec
    from asmg_tf.models import EmbeddingMLPRanker
    from asmg_tf.training.loop import make_optimizer
    from pipeline.capacity import grow_generator_state

    def state(users):
        m = EmbeddingMLPRanker(users, 6, 0, embedding_dim=4)
        m(m.example_features())
        g = MetaGenerator(model_spec(m), hidden_size=3, window=2, seed=1)
        s = GeneratorState(g, make_optimizer(0.01), carry_state=True)
        s.ensure_slots()
        return s

    old, new = state(5), state(9)
    old.hidden[0].assign(tf.ones_like(old.hidden[0]))
    old.optimizer.iterations.assign(7)
    grow_generator_state(old, new)
    assert new.hidden[0].shape[0] == 9
    np.testing.assert_array_equal(new.hidden[0].numpy()[:5], 1.0)
    assert not new.hidden[0].numpy()[5:].any()
    assert int(new.optimizer.iterations.numpy()) == 7
    for o, n in zip(old.generator.trainable_variables, new.generator.trainable_variables):
        np.testing.assert_array_equal(o.numpy(), n.numpy())


def test_trainer_args_are_the_stock_protos():
    assert trainer_pb2.TrainArgs(splits=["period"]).splits == ["period"]
