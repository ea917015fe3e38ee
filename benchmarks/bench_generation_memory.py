"""Peak memory of generating the served model: the whole window at once vs chunks of id-table rows.

For each table size (``--users``; items = users / 4, embedding dim ``--dim``) and window length (``--k``), k IU
models are written as ``.npz`` files as the bench's IU chain writes them, and a fresh process generates the served
model (asmg_plus's generator: residual, normalised, as ``serve`` does) in one of two ways:

* ``whole``: the former ``serve``: load the k models, stack them (``MetaGenerator.window_tensors``), generate every
  row at once (``MetaGenerator.generate``), assign (``set_weights``);
* ``streamed``: ``serve`` now: read the k models by row ranges, generate and assign chunk by chunk
  (``asmg_tf.generator.streaming.write_generated``, ``--chunk-rows``);

and ``model``: the same process building the serving model only (the TensorFlow import plus one model), the floor.
``--repeats N`` runs the ways in turn N times (seconds of the two ways side by side on a shared machine).
``--state`` adds a carried hidden state ([N, d, H] per table, H = 4: the method's own state, in memory in both
ways). The peak resident set of each process comes from ``os.wait4`` (``ru_maxrss``). Weight values do not change
memory: the models are random.

    .venv/bin/python benchmarks/bench_generation_memory.py --users 300000,1000000,3000000 --k 3,10 --out runs/genmem
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from asmg_tf.cli_args import positive_int  # noqa: E402
from asmg_tf.files import write_json  # noqa: E402

WAYS = ("model", "whole", "streamed")


def _ints(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",")]


def _model(users: int, dim: int):
    from asmg_tf.models import EmbeddingMLPRanker

    model = EmbeddingMLPRanker(users, max(1, users // 4), 0, embedding_dim=dim)
    model(model.example_features())
    return model


def write_models(folder: str, users: int, k: int, dim: int) -> list[str]:
    """k random IU models of the ranker at ``users`` (``weights_<t>.npz``), written once."""
    import numpy as np

    from asmg_tf.models import get_weights
    from asmg_tf.models.weights import save_weights_npz

    paths = [os.path.join(folder, f"weights_{t:03d}.npz") for t in range(k)]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        base = get_weights(_model(users, dim))
        rng = np.random.default_rng(0)
        for p in missing:
            save_weights_npz(p, {n: v + rng.normal(0, 0.01, v.shape).astype(np.float32) for n, v in base.items()})
    return paths


def child(args) -> None:
    """One measurement in this process: writes ``{"seconds"}`` to ``--result``."""
    from asmg_tf._keras_env import ensure_legacy_keras

    ensure_legacy_keras()
    import numpy as np
    import tensorflow as tf

    from asmg_tf.generator import MetaGenerator, model_spec
    from asmg_tf.generator.streaming import CHUNK_ROWS, WindowRows, write_generated
    from asmg_tf.models.weights import load_weights_npz, set_weights
    from asmg_tf.npz_rows import NpzRows

    model = _model(args.users, args.dim)
    start = time.perf_counter()
    if args.way != "model":
        specs = model_spec(model)
        generator = MetaGenerator(specs, hidden_size=4, seed=1, residual=True, normalize=True)
        state = None
        if args.state:  # as GeneratorState holds it: variables, read as tensors
            rng = np.random.default_rng(1)
            shapes = generator.state_shapes()
            state = {
                key: tf.Variable(rng.normal(0, 0.1, shape).astype(np.float32)).value() for key, shape in shapes.items()
            }
        paths = args.paths.split(",")
        if args.way == "whole":
            window = MetaGenerator.window_tensors([load_weights_npz(p) for p in paths], specs)
            set_weights(model, generator.generate(window, state))
        else:
            window_rows = WindowRows([NpzRows(p) for p in paths])
            write_generated(model, generator, window_rows, state, args.chunk_rows or CHUNK_ROWS)
    write_json(args.result, {"seconds": time.perf_counter() - start})


def measure(cmd: list[str]) -> dict:
    """Run ``cmd``; its peak RSS (MB) and wall seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read()
    proc.stderr.close()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return {"peak_rss_mb": usage.ru_maxrss / 1024, "wall_seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=_ints, default=[300_000, 1_000_000])
    p.add_argument("--k", type=_ints, default=[3, 10])
    p.add_argument("--dim", type=positive_int, default=8, help="embedding dim of the ranker (default 8)")
    p.add_argument("--chunk-rows", type=positive_int, help="rows per chunk (default: streaming.CHUNK_ROWS)")
    p.add_argument("--state", action="store_true", help="generate from a carried hidden state")
    p.add_argument("--ways", default=",".join(WAYS))
    p.add_argument("--repeats", type=positive_int, default=1, help="run the ways in turn this many times (timing)")
    p.add_argument("--out", required=True)
    p.add_argument("--child", choices=WAYS, dest="way", help=argparse.SUPPRESS)
    p.add_argument("--paths", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.way:
        args.users = args.users[0]
        child(args)
        return 0
    os.makedirs(args.out, exist_ok=True)
    records = []
    for users in args.users:
        for k in args.k:
            folder = os.path.join(args.out, f"models-{users}-d{args.dim}")
            os.makedirs(folder, exist_ok=True)
            paths = write_models(folder, users, max(args.k), args.dim)[:k]
            model_mb = sum(os.path.getsize(p) for p in paths) / len(paths) / 2**20
            for way in [w for _ in range(args.repeats) for w in args.ways.split(",")]:
                if way == "model" and k != args.k[0]:
                    continue  # does not depend on k
                result = os.path.join(args.out, "result.json")
                cmd = [sys.executable, os.path.abspath(__file__), "--child", way, "--users", str(users)]
                cmd += ["--dim", str(args.dim), "--paths", ",".join(paths), "--result", result, "--out", args.out]
                cmd += (["--chunk-rows", str(args.chunk_rows)] if args.chunk_rows else []) + (
                    ["--state"] if args.state else []
                )
                rec = {"users": users, "k": k, "way": way, "state": args.state, "model_mb": model_mb, **measure(cmd)}
                with open(result) as f:
                    rec["seconds"] = json.load(f)["seconds"]
                records.append(rec)
                print(
                    f"users {users:>10,}  k {k:>2}  {way:<8}  peak RSS {rec['peak_rss_mb']:7.0f} MB  "
                    f"(one model {model_mb:.0f} MB)  {rec['seconds']:.2f} s",
                    flush=True,
                )
    write_json(os.path.join(args.out, "generation_memory.json"), {"dim": args.dim, "records": records})
    return 0


if __name__ == "__main__":
    sys.exit(main())
