"""End to end with LocalDagRunner: a small stream over 9 periods pretrains, warms the generator up and pushes
generated models; a killed backfill resumes, a finished span reruns as a cache hit, an anomalous span stops, and
the per-period metrics equal ``asmg bench``'s on the same data and seeds."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import asmg_tf  # noqa: F401
from asmg_tf.data.synthetic import synthetic_stream
from pipeline import state as S
from pipeline.events import encode_event
from pipeline.spans import EVENTS_FILE, span_dir, write_spans

pytest.importorskip("tfx")
pytestmark = pytest.mark.slow

PROTOCOL = {"num_periods": 9, "pretrain_end": 2, "update_start": 3, "test_start": 6, "test_end": 8}
# k = 2: the generator first serves at span 4; warm-up (paper default) = test_start - 4 = 2 rounds -> deployed from 6
GENERATED_FROM = 6
# same code, data and seeds; only float32 summation order in multithreaded CPU kernels may differ
AUC_TOL, LOGLOSS_TOL = 1e-4, 1e-5


def _bad_span(spans: str, t: int) -> None:
    """A span whose events lack the item: ExampleValidator must flag it."""
    import tensorflow as tf
    from tensorflow.core.example import example_pb2

    os.makedirs(span_dir(spans, t))
    with tf.io.TFRecordWriter(
        os.path.join(span_dir(spans, t), EVENTS_FILE), tf.io.TFRecordOptions(compression_type="GZIP")
    ) as w:
        for r in range(20):
            ex = example_pb2.Example.FromString(encode_event(f"u{r}", "x", 1_700_000_000 + r, r, categories=["c"]))
            del ex.features.feature["item"]
            w.write(ex.SerializeToString())


def _executions(lp):
    from pipeline.metadata import component_seconds

    return component_seconds(lp.metadata_path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from pipeline.runners.local import LocalPipeline, knobs_from_spans

    base = tmp_path_factory.mktemp("e2e")
    spans, root = str(base / "spans"), str(base / "root")
    write_spans(
        synthetic_stream(seed=3, num_users=300, num_items=200, num_periods=9), spans, split="day", num_periods=9
    )
    _bad_span(spans, 10)
    knobs = knobs_from_spans(
        spans, protocol=PROTOCOL, pretrain_epochs=2, method_options={"k": 2}, capacity_headroom=4.0
    )
    lp = LocalPipeline.create(root, knobs)

    # a backfill in another process, killed (SIGKILL) as soon as span 4 has finished
    log = open(base / "backfill.log", "w")
    (base / "tmp").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "backfill", "--root", root, "--to", "9", "--quiet"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(base / "tmp")},
    )
    deadline = time.time() + 600
    try:
        while proc.poll() is None and time.time() < deadline and not {1, 2, 3, 4} <= lp.finished():
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_after = lp.finished()
    before = _executions(lp)
    start = time.perf_counter()
    resumed = lp.backfill(last=9, progress=False)
    return {
        "lp": lp,
        "base": base,
        "killed_after": killed_after,
        "before": before,
        "resumed": resumed,
        "resume_seconds": time.perf_counter() - start,
        "returncode": proc.returncode,
    }


def _transform_spans(rows):
    return [r["span"] for r in rows if r["component"] == "PeriodTransform" and r["state"] == "COMPLETE"]


def test_killed_backfill_resumes_without_redoing_finished_spans(run):
    lp, killed_after = run["lp"], run["killed_after"]
    assert run["returncode"] == -signal.SIGKILL, "the backfill finished before it could be killed"
    assert {1, 2, 3, 4} <= killed_after and not set(range(1, 10)) <= killed_after
    assert run["resumed"]["skipped"] == sorted(killed_after)
    assert set(run["resumed"]["ran"]) == set(range(1, 10)) - killed_after
    assert lp.finished() == set(range(1, 10))
    transformed = _transform_spans(_executions(lp))
    for t in killed_after:  # finished spans were not transformed again
        assert transformed.count(t) == 1


def test_beam_components_leave_no_copy_of_tfx_in_tmp(run):
    """Without a worker environment in the Beam args, TFX copies its whole installation (~50 MB) into a new
    temporary folder per Beam component run and never removes it (``pipeline.beam_args``)."""
    assert {1, 2, 3, 4} <= run["killed_after"]  # ImportExampleGen and StatisticsGen ran on Beam for 4+ spans
    leaked = list((run["base"] / "tmp").glob("*/build/tfx"))
    assert not leaked, leaked[:3]


def test_mlmd_records_every_component_and_artifact(run):
    lp = run["lp"]
    rows = [r for r in _executions(lp) if r["state"] in ("COMPLETE", "CACHED")]
    by_span: dict = {}
    for r in rows:
        by_span.setdefault(r["span"], set()).add(r["component"])
    for t in range(1, 10):
        assert {"ImportExampleGen", "StatisticsGen", "ExampleValidator", "PeriodTransform"} <= by_span[t], t
        trained = {"TestThenTrain", "Trainer", "AsmgGenerator", "BlessingGate", "VersionedPusher"}
        assert (trained <= by_span[t]) == (t >= PROTOCOL["update_start"]), (t, by_span[t])
    from pipeline.metadata import artifacts_by_span, open_store

    with open_store(lp.metadata_path) as store:
        kinds = {
            name: artifacts_by_span(store, name)
            for name in ("TransformCache", "Model", "File", "ModelEvaluation", "ModelBlessing", "PushedModel")
        }
    assert sorted(kinds["TransformCache"]) == list(range(1, 10))
    for name in ("File", "ModelEvaluation", "ModelBlessing", "PushedModel"):
        assert sorted(kinds[name]) == list(range(3, 10)), name
    for t in range(3, 10):
        roles = sorted(
            a.custom_properties["role"].string_value for a in kinds["Model"][t] if "role" in a.custom_properties
        )
        assert "iu" in roles
        evaluation = kinds["ModelEvaluation"][t][-1]
        if t > 3:
            assert 0.3 < evaluation.custom_properties["served_auc"].double_value < 1.0
            assert "iu_logloss" in evaluation.custom_properties


def test_versions_pushed_per_period_as_the_gate_decided(run):
    import json

    from pipeline.components.blessing.executor import read_record
    from pipeline.metadata import artifacts_by_span, open_store

    serving = run["lp"].serving_dir
    versions = sorted(int(v) for v in os.listdir(serving) if v.isdigit())
    assert versions == list(range(3, 10))
    with open_store(run["lp"].metadata_path) as store:
        blessings = artifacts_by_span(store, "ModelBlessing")
    # the backfill was killed after span 4 and resumed: the last record still holds every span's decision
    last = read_record(blessings[9][-1].uri)
    assert sorted(int(t) for t in last["decisions"]) == list(range(3, 10))
    assert sorted(int(t) for t in last["comparisons"]) == list(range(5, 10))  # span 4 generated first; scored on 5
    for v in versions:
        d = os.path.join(serving, str(v))
        assert os.path.exists(os.path.join(d, "saved_model.pb"))
        assert os.path.exists(os.path.join(d, "assets", "users.txt"))  # the lookup's vocabulary, inside the version
        info = json.load(open(os.path.join(d, "assets.extra", "asmg_push.json")))
        decision = last["decisions"][str(v)]
        assert info["source"] == ("generated" if decision["blessed"] else "iu"), v
        assert info["reason"] == decision["reason"]
        if v < GENERATED_FROM:  # warm-up: never the generated model
            assert info["source"] == "iu" and decision["reason"].startswith("warm-up")
        else:  # blessed exactly when the generated model was not worse than IU on span v (window 1)
            c = last["comparisons"][str(v)]
            assert decision["blessed"] == (c["generated"]["auc"] >= c["iu"]["auc"]), v


def test_ids_are_stable_across_periods(run):
    from pipeline.examples import read_period
    from pipeline.metadata import artifacts_by_span, open_store

    lp = run["lp"]
    with open_store(lp.metadata_path) as store:
        states = artifacts_by_span(store, "TransformCache")
        examples = {
            t: [a for a in v if "trainable" in a.custom_properties][-1]
            for t, v in artifacts_by_span(store, "Examples").items()
        }
    users2, users9 = S.read_vocab(states[2][-1].uri, "users"), S.read_vocab(states[9][-1].uri, "users")
    assert users9[: len(users2)] == users2
    d2 = read_period(S.split_files(examples[2].uri, "period"))
    d9 = read_period(S.split_files(examples[9].uri, "period"))
    both = sorted(set(d2.user.tolist()) & set(d9.user.tolist()))
    assert both, "no user active in both span 2 and span 9"
    user = both[0]
    raw = users2[user]
    assert users9.index(raw) == user  # same raw id, same index, same embedding row
    # and that row is the one the span-9 model trained: it moved from its span-2-era value
    from pipeline import model_io

    with open_store(lp.metadata_path) as store:
        models = artifacts_by_span(store, "Model")
    iu = {t: [a for a in v if a.custom_properties["role"].string_value == "iu"][-1] for t, v in models.items()}
    w3 = model_io.load_weights(iu[3].uri)["user_embedding/embeddings"]
    w9 = model_io.load_weights(iu[9].uri)["user_embedding/embeddings"]
    assert w3.shape == w9.shape and not np.allclose(w3[user], w9[user])


def test_rerun_of_a_finished_span_is_a_cache_hit(run):
    lp = run["lp"]
    before = _executions(lp)
    pushed = os.path.join(lp.serving_dir, "5")
    mtime = os.path.getmtime(pushed)
    lp.run(5)
    new = [r for r in _executions(lp) if r["execution"] > max(r["execution"] for r in before)]
    components = [r for r in new if r["component"] != "Resolver"]  # resolvers always run (cheap MLMD queries)
    assert len(components) == 10 and {r["state"] for r in components} == {"CACHED"}, {
        (r["component"], r["state"]) for r in new
    }
    assert os.path.getmtime(pushed) == mtime
    assert lp.finished() == set(range(1, 10))


def test_a_span_with_anomalies_stops_and_pushes_nothing(run):
    lp = run["lp"]
    with pytest.raises(Exception, match="does not match the raw-event schema"):
        lp.run(10)
    assert not os.path.exists(os.path.join(lp.serving_dir, "10"))
    assert 10 not in lp.finished()


def test_metrics_match_asmg_bench_on_the_same_data_and_seeds(run, capsys):
    from pipeline.parity import compare

    rows = compare(run["lp"].root, str(run["base"] / "bench"))
    assert {r["model"] for r in rows} == {"iu", "generated"}
    assert len([r for r in rows if r["model"] == "iu"]) == 6  # iterations 3..8
    assert len([r for r in rows if r["model"] == "generated"]) == 5  # iterations 4..8
    for r in rows:
        assert abs(r["pipeline_auc"] - r["bench_auc"]) <= AUC_TOL, r
        assert abs(r["pipeline_logloss"] - r["bench_logloss"]) <= LOGLOSS_TOL, r
    worst = max(abs(r["pipeline_auc"] - r["bench_auc"]) for r in rows)
    with capsys.disabled():
        print(f"\npipeline vs bench: worst |dAUC| {worst:.2e} over {len(rows)} rows")


def test_metrics_command_prints_the_table_and_writes_the_png(run, capsys):
    from pipeline.cli import main

    assert main(["metrics", "--root", run["lp"].root]) == 0
    out = capsys.readouterr().out
    assert "served AUC LL" in out and "generated" in out
    lines = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(lines) >= 7
    # every update span says what it pushed next and why; the summary's seconds are filled (they were nan)
    assert sum(("(warm-up" in line) or ("blessed, " in line) for line in lines) == 7  # spans 3..9 pushed
    summary = out[out.index("method ") :]
    assert "nan" not in summary and "served the generated model in" in summary
    assert os.path.exists(os.path.join(run["lp"].root, "reports", "pipeline_metrics.png"))
