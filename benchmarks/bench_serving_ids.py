"""What the in-graph raw-id lookup costs: the same model exported by an asmg from before raw ids (row-index
signatures) and by this one (raw ids), measured side by side, alternating, in one process and one server.

    git worktree add ../asmg-before 18595dc        # the last commit whose versions took row indices
    .venv/bin/python benchmarks/bench_serving_ids.py --before-tree ../asmg-before [--rounds 7] [--json out.json]

Both versions hold the same weights (``bench_serving``'s model: seeded, 4,000 users, 3,000 items, 50 categories);
the older tree exports its version in a subprocess. One ``asmg serve`` (this tree's server) serves both under two
names, and every round times each (version, signature, batch) once, in turn: batch 1 and batch 256, gRPC Predict,
the in-process signature call (a TF1 session, as the server runs it: numpy inputs converted on every call) and the
graph alone (``tf.saved_model.load``'s signature on tensors made once: no input conversion, which for 7,680 history
strings is most of what the Python server adds). The requests ask for the same rows: row
indices for the old version, the rows' raw ids for the new one. Ratios of the per-round medians are what to read;
the machine's speed drifts over minutes on a shared host, so both sides must share every minute.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_serving import bench_model, make_inputs, start_server, timed  # noqa: E402

import serving  # noqa: E402,F401  (legacy Keras before TensorFlow)

SIGNATURES = {"before": ("serving_default", "predict_raw"), "after": ("serving_default", "predict_ids")}
_OLD_EXPORT = """
import sys, numpy as np, tensorflow as tf
from asmg_tf.models import EmbeddingMLPRanker
from serving.export import export_model
users, items, categories, base = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tf.keras.utils.set_random_seed(0)
model = EmbeddingMLPRanker(users, items, categories)
model(model.example_features())
table = np.load(base + "/table.npy")
print(export_model(model, base, "before", version=1, item_categories=table))
"""


def index_inputs(rng_state, n: int, vocab, table) -> dict:
    """``bench_serving.make_inputs``' rows as the old contract sends them: row indices (the same draws)."""
    import numpy as np

    from serving import schema as S

    rng = np.random.RandomState()
    rng.set_state(rng_state)
    users, items = len(vocab.users), len(vocab.items)
    hist_len = rng.randint(0, S.MAX_HIST + 1, size=n)
    hist = rng.randint(0, items, size=(n, S.MAX_HIST)) * (np.arange(S.MAX_HIST)[None] < hist_len[:, None])
    user, item = rng.randint(0, users, size=n), rng.randint(0, items, size=n)
    from tensorflow.core.example import example_pb2, feature_pb2

    def example(u, i, h):
        ints = lambda v: feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[int(x) for x in v]))  # noqa: E731
        feats = {"user": ints([u]), "item": ints([i]), "hist": ints(h)}
        return example_pb2.Example(features=feature_pb2.Features(feature=feats)).SerializeToString()

    rows = [example(u, i, h[:length]) for u, i, h, length in zip(user, item, hist, hist_len)]
    tensors = {"user": user, "item": item, "hist": hist, "hist_len": hist_len}
    if table is not None:
        tensors["item_cats"], tensors["hist_cats"] = table[item], table[hist]
    return {
        "serving_default": {"examples": np.array(rows, dtype=object)},
        "predict_raw": {k: np.asarray(v, np.int64) for k, v in tensors.items()},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before-tree", required=True, help="a checkout of the row-index asmg (e.g. 18595dc)")
    p.add_argument("--users", type=int, default=4000)
    p.add_argument("--items", type=int, default=3000)
    p.add_argument("--categories", type=int, default=50)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calls", type=int, default=200, help="calls per (version, signature, batch) and round")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)

    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

    from serving.export import export_model
    from serving.model_config import ModelEntry, write_model_config
    from serving.server.servable import Servable

    model, rng, table, vocab = bench_model(args.users, args.items, args.categories)
    inputs: dict = {"before": {}, "after": {}}
    for batch in (1, args.batch):
        state = rng.get_state()
        inputs["before"][batch] = index_inputs(state, batch, vocab, table)
        inputs["after"][batch] = make_inputs(rng, batch, vocab)  # the same draws, as raw ids
    with tempfile.TemporaryDirectory(prefix="bench-serving-ids-") as base:
        np.save(os.path.join(base, "table.npy"), table)
        env = {**os.environ, "PYTHONPATH": os.path.abspath(args.before_tree), "TF_USE_LEGACY_KERAS": "1"}
        old = subprocess.run(
            [sys.executable, "-c", _OLD_EXPORT, str(args.users), str(args.items), str(args.categories), base],
            cwd=args.before_tree, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        new = export_model(model, base, "after", version=1, item_categories=table, vocabulary=vocab)
        servables = {"before": Servable("before", 1, old), "after": Servable("after", 1, new)}
        loaded = {"before": tf.saved_model.load(old), "after": tf.saved_model.load(new)}
        config = os.path.join(base, "models.config")
        write_model_config(config, [ModelEntry(n, os.path.join(base, n)) for n in ("before", "after")])
        proc, target = start_server(None, None, os.path.join(base, "serve.log"), config_file=config)
        channel = grpc.insecure_channel(target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        calls = {}
        for side in ("before", "after"):
            for signature in SIGNATURES[side]:
                sig = servables[side].signature_defs[signature]
                keys = sorted(sig.inputs)
                fn = servables[side].session.make_callable(
                    sig.outputs["click_probability"].name, [sig.inputs[k].name for k in keys]
                )
                for batch in (1, args.batch):
                    values = inputs[side][batch][signature]
                    request = predict_pb2.PredictRequest(
                        model_spec=model_pb2.ModelSpec(name=side, signature_name=signature),
                        output_filter=["click_probability"],
                    )
                    for k, v in values.items():
                        request.inputs[k].CopyFrom(tf.make_tensor_proto(v))
                    kind = "examples" if signature == "serving_default" else "tensors"
                    calls[(side, kind, batch, "in_process")] = functools.partial(fn, *[values[k] for k in keys])
                    tensors = {k: tf.constant(v) for k, v in values.items()}
                    graph = loaded[side].signatures[signature]
                    calls[(side, kind, batch, "graph")] = functools.partial(graph, **tensors)
                    calls[(side, kind, batch, "grpc")] = functools.partial(stub.Predict, request, timeout=30)
        try:
            medians: dict = {key: [] for key in calls}
            tails: dict = {key: [] for key in calls}
            for _ in range(args.rounds):
                for key, call in calls.items():
                    latencies = timed(call, args.calls, 30.0, warmup=5)
                    medians[key].append(float(np.median(latencies)))
                    tails[key].append(float(np.percentile(latencies, 99)))
        finally:
            channel.close()
            proc.terminate()
            proc.wait(timeout=60)
            for s in servables.values():
                s.close()
    results: dict = {"config": vars(args), "p50_ms": {}, "p99_ms": {}}
    print(f"ms, median over {args.rounds} alternating rounds of {args.calls} calls (row ids -> raw ids)")
    print(f"{'inputs':9} {'batch':>5} {'path':11} {'p50 row':>8} {'p50 raw':>8} {'ratio':>6} {'p99 row':>8} "
          f"{'p99 raw':>8} {'ratio':>6}")  # fmt: skip
    for kind in ("examples", "tensors"):
        for batch in (1, args.batch):
            for path in ("graph", "in_process", "grpc"):
                line = f"{kind:9} {batch:5d} {path:11}"
                for stat, per_round in (("p50_ms", medians), ("p99_ms", tails)):
                    b = float(np.median(per_round[("before", kind, batch, path)])) * 1e3
                    a = float(np.median(per_round[("after", kind, batch, path)])) * 1e3
                    results[stat][f"{kind}/b{batch}/{path}"] = {"row_ids": b, "raw_ids": a, "ratio": a / b}
                    line += f" {b:8.3f} {a:8.3f} {a / b:6.3f}"
                print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
