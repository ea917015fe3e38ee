"""The period Beam graph on Beam's DaskRunner (a loopback dask.distributed cluster: a scheduler and two worker
processes, started and stopped here) gives the same examples, user state and meta as on the DirectRunner."""

import pytest

from asmg_tf.data.synthetic import synthetic_stream
from pipeline.spans import write_spans

pytest.importorskip("distributed")
pytest.importorskip("apache_beam.runners.dask.dask_runner")
from benchmarks.bench_beam_runners import DIRECT_ARGS, dask_args, loopback_cluster, run_spans, settings_for  # noqa: E402


@pytest.mark.slow  # ~4 min on 2 shared cores (cluster start, three spans on each runner)
def test_dask_runner_gives_the_direct_runners_examples_and_state(tmp_path, monkeypatch):
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    inter = synthetic_stream(seed=3, num_users=120, num_items=80, num_periods=6)
    info = write_spans(inter, str(tmp_path / "spans"), split="day", num_periods=6)
    settings = settings_for(info)
    spans = 3  # the first span has no carried state, the next ones read and roll it
    direct = run_spans(str(tmp_path / "direct"), str(tmp_path / "spans"), settings, list(DIRECT_ARGS), spans)
    with loopback_cluster(workers=2) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert len(cluster.scheduler_info["workers"]) == 2, "two worker processes registered"
        on_dask = run_spans(str(tmp_path / "dask"), str(tmp_path / "spans"), settings, dask_args(cluster), spans)
    for t in range(1, spans + 1):
        assert direct[t]["examples"], f"span {t} wrote no examples"
        assert on_dask[t]["examples"] == direct[t]["examples"], f"span {t}: examples differ"
        assert on_dask[t]["users"] == direct[t]["users"], f"span {t}: user state differs"
        assert on_dask[t]["meta"] == direct[t]["meta"], f"span {t}: state meta differs"
    assert not list((tmp_path / "tmp").glob("*/build/tfx")), "TFX copied itself into the temp dir (pipeline.beam_args)"
