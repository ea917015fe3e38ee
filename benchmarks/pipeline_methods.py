"""Every update method through the real TFX pipeline (LocalDagRunner): two update spans each, timed.

For each method a fresh pipeline root over the same small synthetic stream runs span 1 (data only: it builds the
state), then three update spans: the pretraining run (pretraining, IU, the method's first step, gate, push) and two
warm-started runs (the method restored from the history, ``observe`` then ``serve``; ASMG methods get k = 2 so they
generate from span 3 and meta-train in span 4). It prints, per method, the wall seconds of each update span, the
generator component's seconds, and the last span's test-then-train AUC of the method's and the IU model of the span
before; ``--out DIR/methods.json`` keeps them.

    .venv/bin/python benchmarks/pipeline_methods.py --methods iu,bu3,incctr,asmg_plus --out runs/pipeline-methods
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from asmg_tf.cli_args import split_names  # noqa: E402
from asmg_tf.files import write_json  # noqa: E402

#: span 1 builds the state; spans 2-4 are update spans (the pretraining run + two warm-started runs)
PROTOCOL = {"num_periods": 6, "pretrain_end": 1, "update_start": 2, "test_start": 3, "test_end": 5}
SPANS = (1, 2, 3, 4)
UPDATE_SPANS = SPANS[1:]
STREAM = {"num_users": 300, "num_items": 200}


def run_method(name: str, spans: str, root: str) -> dict:
    """Spans 1-4 of a fresh root running ``name``; per update span: wall and generator seconds, push, metrics."""
    from pipeline.metadata import component_seconds
    from pipeline.metrics_report import metrics_rows
    from pipeline.runners.local import LocalPipeline, knobs_from_spans

    options = {"k": 2} if name.startswith("asmg") else {}
    knobs = knobs_from_spans(
        spans, protocol=PROTOCOL, pretrain_epochs=2, method=name, method_options=options, capacity_headroom=2.0
    )
    lp = LocalPipeline.create(root, knobs)
    walls = {t: lp.run(t) for t in SPANS}
    generator = {
        r["span"]: r["seconds"]
        for r in component_seconds(lp.metadata_path)
        if r["component"] == "AsmgGenerator" and r["state"] == "COMPLETE"
    }
    rows = metrics_rows(lp.metadata_path)
    out = {"method": name, "spans": {}}
    for t in UPDATE_SPANS:
        row = rows.get(t, {})
        out["spans"][t] = {
            "wall_seconds": walls[t],
            "generator_seconds": generator.get(t),
            "pushed": (row.get("push") or {}).get("blessed"),
            "served_auc": (row.get("served") or {}).get("auc"),
            "iu_auc": (row.get("iu") or {}).get("auc"),
            "method_auc": (row.get("generated") or {}).get("auc"),
        }
    return out


def format_table(results: list[dict]) -> str:
    head = "".join(f" {'span ' + str(t) + ' s':>9} {'gen ' + str(t) + ' s':>8}" for t in UPDATE_SPANS)
    lines = [f"{'method':<16}{head} {'span-4 AUC: method / IU of span 3':>34}"]
    for r in results:
        cells = "".join(
            f" {r['spans'][t]['wall_seconds']:9.1f} {r['spans'][t]['generator_seconds'] or 0:8.2f}"
            for t in UPDATE_SPANS
        )
        last = r["spans"][UPDATE_SPANS[-1]]
        auc = f"{last['method_auc'] or float('nan'):.4f} / {last['iu_auc'] or float('nan'):.4f}"
        lines.append(f"{r['method']:<16}{cells} {auc:>34}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="iu,bu3,incctr,asmg_plus", help="comma-separated method names")
    parser.add_argument("--out", default="runs/pipeline-methods", help="folder for the roots and methods.json")
    args = parser.parse_args(argv)
    from asmg_tf.quiet import import_tensorflow

    import_tensorflow()
    from pipeline.commands import quiet_logs

    quiet_logs()
    from asmg_tf.data.synthetic import synthetic_stream
    from pipeline.spans import write_spans

    spans = os.path.join(args.out, "spans")
    n = PROTOCOL["num_periods"]
    write_spans(synthetic_stream(seed=3, num_periods=n, **STREAM), spans, split="day", num_periods=n, overwrite=True)
    results = []
    for name in split_names(args.methods):
        start = time.perf_counter()
        results.append(run_method(name, spans, os.path.join(args.out, name)))
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    write_json(os.path.join(args.out, "methods.json"), results)
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
