"""PeriodTransform's Beam graph on the DirectRunner and on Beam's DaskRunner (a dask.distributed cluster on
loopback): same examples and user state? and how many seconds each, on the first spans of a real log.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_beam_runners.py --data ../shared/data/online-retail-uci \
        --spans 2 --out runs/beam-runners

Writes ``OUT/beam_runners.json``: per runner and span the seconds of the executor (Beam graph + state roll), the
number of examples, and whether the DaskRunner's records equal the DirectRunner's (compared after sorting).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator

#: Beam 2.77 knows the DaskRunner only by its full name (``--runner=DaskRunner`` is refused as unknown)
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
DIRECT_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")  # the pipeline's local default


def settings_for(spans_info: dict) -> dict:
    """The preprocessing settings ``asmg pipeline`` uses for a spans folder (``pipeline.factory`` defaults)."""
    protocol = spans_info["protocol"]
    return {
        "explicit": bool(spans_info["explicit"]),
        "positive_rating": float(spans_info["positive_rating"]),
        "history_granularity": spans_info["history_granularity"],
        "has_categories": bool(spans_info["has_categories"]),
        "hist_len": 30,
        "sample_seed": 1234,
        "capacity_headroom": 1.0,
        "first_span": 1,
        "pretrain_end": protocol["pretrain_end"],
        "update_start": protocol["update_start"],
    }


def _artifact(cls, uri: str, span: int | None = None, splits: list[str] | None = None):
    from tfx.types import artifact_utils

    a = cls()
    a.uri = uri
    os.makedirs(uri, exist_ok=True)
    if splits:
        a.split_names = artifact_utils.encode_split_names(splits)
    if span is not None:
        a.set_int_custom_property("span", span)
    return a


def sorted_records(pattern: str) -> list[bytes]:
    """Every ``tf.Example`` of the ``*.tfrecord.gz`` files matching ``pattern``, re-serialized with sorted feature
    keys (a process may write a proto map in any order), sorted (shard layouts differ by runner)."""
    import tensorflow as tf
    from tensorflow.core.example import example_pb2

    files = sorted(glob.glob(pattern))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return sorted(example_pb2.Example.FromString(r.numpy()).SerializeToString(deterministic=True) for r in records)


def run_spans(root: str, spans_dir: str, settings: dict, beam_args: list[str], num_spans: int) -> dict[int, dict]:
    """PeriodTransform's executor over spans 1..num_spans with ``beam_args``; per span: seconds, the sorted example
    and user-state records, and the state's meta."""
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
    from tfx.types import standard_artifacts

    from pipeline import state as S
    from pipeline.beam_args import with_worker_environment
    from pipeline.components.period_transform.executor import Executor as Transform
    from pipeline.spans import EVENTS_FILE, span_dir

    out, state = {}, None
    for t in range(1, num_spans + 1):
        ev = _artifact(standard_artifacts.Examples, os.path.join(root, f"raw{t}"), span=t, splits=["period"])
        os.makedirs(os.path.join(ev.uri, "Split-period"), exist_ok=True)
        shutil.copy(os.path.join(span_dir(spans_dir, t), EVENTS_FILE), os.path.join(ev.uri, "Split-period"))
        an = _artifact(standard_artifacts.ExampleAnomalies, os.path.join(root, f"anomalies{t}"), splits=["period"])
        os.makedirs(os.path.join(an.uri, "Split-period"), exist_ok=True)
        open(os.path.join(an.uri, "Split-period", "SchemaDiff.pb"), "wb").close()  # no anomalies
        ex = _artifact(standard_artifacts.Examples, os.path.join(root, f"examples{t}"))
        st = _artifact(standard_artifacts.TransformCache, os.path.join(root, f"state{t}"))
        context = BaseBeamExecutor.Context(
            beam_pipeline_args=with_worker_environment(beam_args), tmp_dir=os.path.join(root, "tmp")
        )
        start = time.perf_counter()
        Transform(context).Do(
            {"events": [ev], "anomalies": [an], "previous_state": [state] if state else []},
            {"examples": [ex], "state": [st]},
            {"settings": json.dumps(settings)},
        )
        seconds = time.perf_counter() - start
        out[t] = {
            "seconds": seconds,
            "examples": sorted_records(os.path.join(ex.uri, "Split-*", "*.tfrecord.gz")),
            "users": sorted_records(os.path.join(st.uri, S.USERS_DIR, "*.tfrecord.gz")),
            "meta": S.read_json(os.path.join(st.uri, S.META)),
        }
        state = st
    return out


@contextlib.contextmanager
def loopback_cluster(workers: int = 2) -> Iterator:
    """A dask.distributed scheduler and ``workers`` worker processes, all on 127.0.0.1, no dashboard."""
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    try:
        yield cluster
    finally:
        cluster.close()


def dask_args(cluster) -> list[str]:
    return [f"--runner={DASK_RUNNER}", f"--dask_client_address={cluster.scheduler_address}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a raw interaction log (asmg_tf.data.readers formats)")
    ap.add_argument("--num-periods", type=int, default=31, help="spans the log is cut into")
    ap.add_argument("--spans", type=int, default=2, help="how many spans (from 1) to run on each runner")
    ap.add_argument("--workers", type=int, default=2, help="dask worker processes")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    from asmg_tf.data.readers import detect_format, load_interactions
    from pipeline.spans import write_spans

    inter = load_interactions(args.data, detect_format(args.data))
    spans_dir = os.path.join(args.out, "spans")
    info = write_spans(inter, spans_dir, split="count", num_periods=args.num_periods, overwrite=True)
    settings = settings_for(info)
    results = {"data": args.data, "spans": args.spans, "workers": args.workers, "runs": {}}
    direct = run_spans(os.path.join(args.out, "direct"), spans_dir, settings, list(DIRECT_ARGS), args.spans)
    with loopback_cluster(args.workers) as cluster:
        on_dask = run_spans(os.path.join(args.out, "dask"), spans_dir, settings, dask_args(cluster), args.spans)
    for t in direct:
        same = all(direct[t][k] == on_dask[t][k] for k in ("examples", "users", "meta"))
        results["runs"][t] = {
            "examples": len(direct[t]["examples"]),
            "users": len(direct[t]["users"]),
            "direct_seconds": round(direct[t]["seconds"], 2),
            "dask_seconds": round(on_dask[t]["seconds"], 2),
            "equal": same,
        }
        print(f"span {t}: {results['runs'][t]}")
    with open(os.path.join(args.out, "beam_runners.json"), "w") as f:
        json.dump(results, f, indent=1)
    return 0 if all(r["equal"] for r in results["runs"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
