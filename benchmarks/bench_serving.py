"""Serving load benchmark: Predict over gRPC (loopback) beside the in-process signature call (the floor).

    .venv/bin/python benchmarks/bench_serving.py [--requests 1000] [--batch-requests 200] [--max-seconds 20]

Exports a model of the given table sizes (random weights: latency does not depend on training), starts
``asmg serve`` in a separate process on 127.0.0.1 (an ephemeral port), and measures for each signature
(``serving_default`` over tf.Examples, ``predict_ids`` over id tensors), with raw ids as clients send them (Online
Retail-like: integer customer ids, stock-code item ids; the version looks them up in its graph):

* batch 1: p50/p99 latency of sequential calls;
* batch 256: p50 latency and throughput (rows/s) of sequential calls, and throughput with ``--in-flight``
  concurrent calls.

The floor is the same exported signature called in-process through a TF1 session (``session.make_callable`` on
the signature's tensor names): no gRPC, no proto conversion. Each phase stops at ``--requests`` (or
``--batch-requests``) calls or ``--max-seconds``, whichever comes first. Figures go to stdout and ``--json``.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import serving  # noqa: E402,F401  (legacy Keras before TensorFlow)
from asmg_tf.files import write_json  # noqa: E402


def vocabulary(users: int, items: int):
    """Raw ids shaped like Online Retail's: customers 12346.., stock codes "10002", "10080A", ..."""
    from asmg_tf.data.vocab import IdVocabulary

    codes = [f"{10002 + 7 * i}" + ("A" if i % 3 == 0 else "") for i in range(items)]
    return IdVocabulary([str(12346 + i) for i in range(users)], codes)


def bench_model(users: int, items: int, categories: int):
    """The benchmarks' model (random weights, seed 0: latency does not depend on training), the generator of its
    requests, its item -> categories table (or None) and its raw ids: ``(model, rng, table, vocab)``."""
    import numpy as np
    import tensorflow as tf

    from asmg_tf.models import EmbeddingMLPRanker

    tf.keras.utils.set_random_seed(0)
    model = EmbeddingMLPRanker(users, items, categories)
    model(model.example_features())
    rng = np.random.RandomState(0)
    table = rng.randint(0, categories, size=(items, 1)).astype(np.int32) if categories else None
    return model, rng, table, vocabulary(users, items)


def make_inputs(rng, n: int, vocab) -> dict:
    """``n`` random rows of raw ids: serialized tf.Examples and the equivalent id tensors (histories of 0-30
    items)."""
    import numpy as np

    from serving import schema as S

    users, items = len(vocab.users), len(vocab.items)
    hist_len = rng.randint(0, S.MAX_HIST + 1, size=n)
    hist = rng.randint(0, items, size=(n, S.MAX_HIST)) * (np.arange(S.MAX_HIST)[None] < hist_len[:, None])
    user, item = rng.randint(0, users, size=n), rng.randint(0, items, size=n)
    raw_user, raw_item, raw_hist = vocab.raw("users", user), vocab.raw("items", item), vocab.raw("items", hist)
    rows = [
        {"user": u, "item": i, "hist": h[:length].tolist()}
        for u, i, h, length in zip(raw_user, raw_item, raw_hist, hist_len)
    ]
    as_bytes = np.vectorize(S.id_bytes, otypes=[object])
    tensors = {"user": as_bytes(raw_user), "item": as_bytes(raw_item), "hist": as_bytes(raw_hist)}
    return {
        "serving_default": {"examples": np.array(S.serialize_examples(rows), dtype=object)},
        "predict_ids": {**tensors, "hist_len": hist_len.astype(np.int64)},
    }


def timed(call: Callable[[], object], count: int, max_seconds: float, warmup: int = 20) -> list[float]:
    """Latencies (s) of up to ``count`` calls within ``max_seconds`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    out, stop = [], time.perf_counter() + max_seconds
    while len(out) < count and time.perf_counter() < stop:
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def summary(latencies: list[float], batch: int) -> dict:
    import numpy as np

    lat = np.array(latencies)
    return {
        "calls": len(lat),
        "p50_ms": float(np.percentile(lat, 50) * 1e3),
        "p99_ms": float(np.percentile(lat, 99) * 1e3),
        "rows_per_s": float(batch * len(lat) / lat.sum()),
    }


def concurrent_throughput(stub, request, batch: int, count: int, in_flight: int, max_seconds: float) -> dict:
    """Rows/s with ``in_flight`` Predict futures outstanding."""
    for _ in range(5):
        stub.Predict(request, timeout=30)
    start, done, pending = time.perf_counter(), 0, []
    stop = start + max_seconds
    while done < count and time.perf_counter() < stop:
        while len(pending) < in_flight:
            pending.append(stub.Predict.future(request, timeout=30))
        pending.pop(0).result()
        done += 1
    for f in pending:
        f.result()
        done += 1
    elapsed = time.perf_counter() - start
    return {"calls": done, "in_flight": in_flight, "rows_per_s": batch * done / elapsed}


def start_server(
    base: str | None, name: str | None, log_path: str, timeout: float = 180.0, config_file: str | None = None
) -> tuple[subprocess.Popen, str]:
    """Start ``asmg serve`` on ``base`` (or the models of ``config_file``); returns (process, gRPC target) once it
    prints its ready line. Its stderr goes to ``log_path``, whose end is in the error when it exits or stays silent
    for ``timeout`` seconds."""
    models = ["--model-config-file", config_file] if config_file else ["--model-base-path", base, "--model-name", name]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asmg_cli", "serve", *models,
             "--port", "0", "--rest-api-port", "-1", "--file-system-poll-wait-seconds", "0", "--max-batch-size", "0"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        if "ready grpc=" in line:
            return proc, line.split("grpc=")[1].split()[0]
    proc.kill()
    proc.wait()
    with open(log_path) as f:
        tail = f.read()[-2000:]
    raise RuntimeError(f"asmg serve did not start within {timeout:.0f} s; its stderr ends with:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=4000)
    p.add_argument("--items", type=int, default=3000)
    p.add_argument("--categories", type=int, default=50, help="0: a model without categories")
    p.add_argument("--requests", type=int, default=1000, help="batch-1 calls per phase")
    p.add_argument("--batch-requests", type=int, default=200, help="batch-256 calls per phase")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--in-flight", type=int, default=4)
    p.add_argument("--max-seconds", type=float, default=20.0, help="time limit per phase")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)

    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

    from serving.export import export_model
    from serving.server.servable import Servable

    model, rng, table, vocab = bench_model(args.users, args.items, args.categories)
    inputs = {1: make_inputs(rng, 1, vocab), args.batch: make_inputs(rng, args.batch, vocab)}
    results = {
        "config": vars(args),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "signatures": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as base:
        path = export_model(model, base, "asmg", version=1, item_categories=table, vocabulary=vocab)
        servable = Servable("asmg", 1, path)
        try:
            proc, target = start_server(os.path.join(base, "asmg"), "asmg", os.path.join(base, "serve.log"))
        except BaseException:
            servable.close()
            raise
        channel = grpc.insecure_channel(target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            for signature in ("serving_default", "predict_ids"):
                sig = servable.signature_defs[signature]
                keys = sorted(sig.inputs)
                fn = servable.session.make_callable(
                    sig.outputs["click_probability"].name, [sig.inputs[k].name for k in keys]
                )
                row = {}
                for batch in (1, args.batch):
                    feeds = [inputs[batch][signature][k] for k in keys]
                    request = predict_pb2.PredictRequest(
                        model_spec=model_pb2.ModelSpec(name="asmg", signature_name=signature),
                        output_filter=["click_probability"],
                    )
                    for k, v in inputs[batch][signature].items():
                        request.inputs[k].CopyFrom(tf.make_tensor_proto(v))
                    count = args.requests if batch == 1 else args.batch_requests
                    row[f"in_process_b{batch}"] = summary(
                        timed(functools.partial(fn, *feeds), count, args.max_seconds), batch
                    )
                    row[f"grpc_b{batch}"] = summary(
                        timed(functools.partial(stub.Predict, request, timeout=30), count, args.max_seconds), batch
                    )
                    if batch != 1:
                        row[f"grpc_b{batch}_concurrent"] = concurrent_throughput(
                            stub, request, batch, count, args.in_flight, args.max_seconds
                        )
                results["signatures"][signature] = row
        finally:
            channel.close()
            proc.terminate()
            proc.wait(timeout=60)
            servable.close()
    print(f"machine: {results['machine']}; model: {args.users} users, {args.items} items, {args.categories} categories")
    print(f"{'signature':16} {'path':28} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'rows/s':>10}")
    for signature, row in results["signatures"].items():
        for name, r in row.items():
            p50 = f"{r['p50_ms']:8.3f}" if "p50_ms" in r else " " * 8
            p99 = f"{r['p99_ms']:8.3f}" if "p99_ms" in r else " " * 8
            print(f"{signature:16} {name:28} {r['calls']:6d} {p50} {p99} {r['rows_per_s']:10.0f}")
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
