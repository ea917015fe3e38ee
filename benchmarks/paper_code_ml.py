"""Run the paper's own MovieLens scripts on a paper-layout CSV, and replay their IU / BU chains with our code.

``run`` copies the TF 1.x scripts of a local clone of the authors' repository (``danni9594/ASMG``,
``MovieLens/<method>/*.py``) into ``--out`` (never into this project), makes the four edits needed to run them on
another file, and runs them unchanged otherwise under TensorFlow 2's ``tf.compat.v1`` (graph mode):

* the data paths point at ``--data`` and its ``*_item_meta.csv``;
* the date window (2014-01-01..2018-12-31 for ML-25M) is opened, so every row of the file is kept;
* ``np.random.seed(1234)`` / ``tf.set_random_seed(123)`` take ``--np-seed`` / ``--tf-seed``;
* BU's window is ``--bu-window`` (the scripts ship with 7; the paper reports BU-3).

``replay`` starts our Embedding&MLP and Adam from the paper run's pretrained checkpoint (weights, Adam moments and
step count) and trains our IU and BU-w chains on the very row permutations the paper's scripts draw
(``np.random.seed(np_seed)``, then one ``DataFrame.sample(frac=1)`` per period), or with our own tf.data shuffles
(``--shuffles ours``), and prints each iteration's next-period AUC / LogLoss beside the paper run's log.

    .venv/bin/python benchmarks/paper_code_ml.py run --paper-repo ../ASMG --data DATA.csv --out runs/paper-1234
    .venv/bin/python benchmarks/paper_code_ml.py replay --paper-run runs/paper-1234 --data DATA.csv

docs/fidelity-movielens.md reports what these found on MovieLens latest-small.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys

COMPAT_RUNNER = (
    "import runpy, sys; import tensorflow.compat.v1 as tf1; tf1.disable_v2_behavior(); "
    "sys.modules['tensorflow'] = tf1; sys.path.insert(0, '.'); runpy.run_path('train_ml.py', run_name='__main__')"
)
PAPER_DATA = "../../datasets/ml_5yr_2014_2018_30seq"  # the scripts' relative data path, without ".csv"
RESULT_DIRS = {"IU": "IU_*", "BU": "BU_*", "IncCTR": "IncCTR_*"}


def _edit(source: str, method: str, args: argparse.Namespace) -> str:
    """The scripts' source with the four documented edits; each must apply exactly once."""
    data = os.path.abspath(args.data)
    meta = data[: -len(".csv")] + "_item_meta.csv"
    edits = [
        (f"'{PAPER_DATA}.csv'", repr(data)),
        (f"'{PAPER_DATA}_item_meta.csv'", repr(meta)),
        ("'start_date': 20140101", "'start_date': 0"),
        ("'end_date': 20181231", "'end_date': 99999999"),
        ("np.random.seed(1234)", f"np.random.seed({args.np_seed})"),
        ("tf.set_random_seed(123)", f"tf.set_random_seed({args.tf_seed})"),
    ]
    if method == "BU":
        edits.append(("'window_size': 7,", f"'window_size': {args.bu_window},"))
    for old, new in edits:
        if source.count(old) != 1:
            raise SystemExit(f"MovieLens/{method}/train_ml.py: expected {old!r} once; is --paper-repo the ASMG repo?")
        source = source.replace(old, new)
    return source


def run_paper(args: argparse.Namespace) -> None:
    methods = ["pretrain", *[m for m in args.methods.split(",") if m]]
    unknown = [m for m in methods[1:] if m not in RESULT_DIRS]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; choose from {sorted(RESULT_DIRS)}")
    summary = {}
    for method in methods:
        src = os.path.join(args.paper_repo, "MovieLens", method)
        dst = os.path.join(args.out, "MovieLens", method)
        if os.path.exists(dst):
            shutil.rmtree(dst)
        shutil.copytree(src, dst)
        path = os.path.join(dst, "train_ml.py")
        with open(path) as f:
            source = _edit(f.read(), method, args)
        with open(path, "w") as f:
            f.write(source)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        with open(os.path.join(dst, "log.txt"), "w") as log:
            rc = subprocess.call([sys.executable, "-c", COMPAT_RUNNER], cwd=dst, env=env, stdout=log, stderr=log)
        if rc:
            raise SystemExit(f"{method} failed (exit {rc}); see {os.path.join(dst, 'log.txt')}")
        if method in RESULT_DIRS:
            (metrics,) = glob.glob(os.path.join(dst, "ckpts", RESULT_DIRS[method], "period30", "test_metrics.txt"))
            with open(metrics) as f:
                values = dict(line.split(": ", 1) for line in f.read().splitlines() if line)
            summary[method] = {"auc": float(values["average_auc"]), "logloss": float(values["average_logloss"])}
            summary[method]["aucs"] = json.loads(values["test_aucs"])
            print(f"{method}: AUC {summary[method]['auc']:.4f}  LogLoss {summary[method]['logloss']:.4f}", flush=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"np_seed": args.np_seed, "tf_seed": args.tf_seed, "methods": summary}, f, indent=1)


# -- replay -----------------------------------------------------------------------------------------------------
#: our variable name -> the paper's
PAPER_NAMES = {
    "user_embedding/embeddings": "user_emb_w",
    "item_encoder/item_embedding/embeddings": "item_emb_w",
    "item_encoder/category_embedding/embeddings": "cate_emb_w",
    **{f"mlp_tower/dense_{k}/kernel": f"fcn{k + 1}/kernel" for k in range(3)},
    **{f"mlp_tower/dense_{k}/bias": f"fcn{k + 1}/bias" for k in range(3)},
}


def _paper_next_metrics(run: str, method: str) -> list[tuple[float, float]]:
    with open(os.path.join(run, "MovieLens", method, "log.txt")) as f:
        text = f.read()
    return [(float(a), float(b)) for a, b in re.findall(r"next_auc ([0-9.]+), next_logloss ([0-9.]+)", text)]


def replay(args: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    from asmg_tf.data.load import load_period_set
    from asmg_tf.data.periods import PeriodData
    from asmg_tf.models.presets import preset
    from asmg_tf.models.weights import named_trainable_variables
    from asmg_tf.training.loop import evaluate, period_seed, train_epoch
    from asmg_tf.training.pretrain import new_trainable
    from asmg_tf.training.state import create_slots

    periods = load_period_set(args.data, format="paper-csv")
    config, cats, proto = preset(periods.kind), periods.item_categories, periods.protocol
    ckpts = glob.glob(os.path.join(args.paper_run, "MovieLens", "pretrain", "ckpts", "*", "Epoch*.index"))
    if not ckpts:
        raise SystemExit(f"no pretrained checkpoint under {args.paper_run}: run the 'run' command first")
    # the scripts' own choice: the best period-11 AUC as written (4 decimals) in the checkpoint's name
    best = max(ckpts, key=lambda p: float(re.search(r"TestAUC([0-9.]+)_", p).group(1)))[: -len(".index")]
    reader = tf.train.load_checkpoint(best)
    steps = round(math.log(float(reader.get_tensor("beta1_power"))) / math.log(0.9)) - 1

    def start_from_paper():
        model, optimizer = new_trainable(periods, config)
        create_slots(model, optimizer)
        for key, var in named_trainable_variables(model).items():
            name = PAPER_NAMES[key]
            var.assign(reader.get_tensor(name))
            optimizer.get_slot(var, "m").assign(reader.get_tensor(name + "/Adam"))
            optimizer.get_slot(var, "v").assign(reader.get_tensor(name + "/Adam_1"))
        optimizer.iterations.assign(steps)
        return model

    pre = evaluate(start_from_paper(), periods.period(proto.update_start), cats)
    print(
        f"paper's pretrained {os.path.basename(best)} (Adam step {steps}) scored by our model on period "
        f"{proto.update_start}: AUC {pre['auc']:.4f} LogLoss {pre['logloss']:.4f}"
    )
    report = {"checkpoint": os.path.basename(best), "shuffles": args.shuffles, "methods": {}}
    for method, window in (("IU", 1), ("BU", args.bu_window)):
        model = start_from_paper()
        np.random.seed(args.np_seed)  # each paper script seeds NumPy once at start-up
        paper = _paper_next_metrics(args.paper_run, method)
        rows = []
        print(f"{method} (window {window}): iteration, AUC ours / paper, LogLoss ours / paper")
        for n, i in enumerate(proto.update_iterations):
            data = PeriodData.concat([periods.period(t) for t in range(max(1, i - window + 1), i + 1)])
            if args.shuffles == "paper":
                order = pd.DataFrame({"row": np.arange(len(data))}).sample(frac=1)["row"].to_numpy()
                train_epoch(model, data.take(order), cats, config.batch_size, shuffle=False)
            else:
                train_epoch(model, data, cats, config.batch_size, shuffle=True, seed=period_seed(config.seed, i))
            ours = evaluate(model, periods.period(i + 1), cats)
            rows.append({"iteration": i, "auc": ours["auc"], "logloss": ours["logloss"],
                         "paper_auc": paper[n][0], "paper_logloss": paper[n][1]})  # fmt: skip
            print(f"  {i:2d}  {ours['auc']:.4f} / {paper[n][0]:.4f}   {ours['logloss']:.4f} / {paper[n][1]:.4f}")
        tests = [r for r in rows if r["iteration"] in proto.test_iterations]
        mean = {k: float(np.mean([r[k] for r in tests])) for k in ("auc", "paper_auc", "logloss", "paper_logloss")}
        worst = max(abs(r["auc"] - r["paper_auc"]) for r in rows)
        print(
            f"  test mean AUC {mean['auc']:.4f} / {mean['paper_auc']:.4f}, LogLoss {mean['logloss']:.4f} / "
            f"{mean['paper_logloss']:.4f}; largest per-iteration |AUC difference| {worst:.4f}"
        )
        report["methods"][method] = {"window": window, "test_mean": mean, "max_abs_auc_diff": worst, "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the paper's scripts (pretrain, then --methods)")
    r.add_argument("--paper-repo", required=True, help="a clone of danni9594/ASMG")
    r.add_argument("--data", required=True, help="the paper-layout CSV (its *_item_meta.csv beside it)")
    r.add_argument("--out", required=True, help="where the scripts are copied and run (outside this project)")
    r.add_argument("--methods", default="IU,BU", help="comma-separated: IU, BU, IncCTR")
    r.add_argument("--np-seed", type=int, default=1234)
    r.add_argument("--tf-seed", type=int, default=123)
    r.add_argument("--bu-window", type=int, default=3)
    r.set_defaults(func=run_paper)
    y = sub.add_parser("replay", help="our IU / BU chains from the paper run's pretrained checkpoint")
    y.add_argument("--paper-run", required=True, help="the --out folder of a finished 'run' (IU and BU)")
    y.add_argument("--data", required=True, help="the same CSV")
    y.add_argument("--np-seed", type=int, default=1234, help="the paper run's --np-seed")
    y.add_argument("--bu-window", type=int, default=3, help="the paper run's --bu-window")
    y.add_argument("--shuffles", choices=("paper", "ours"), default="paper")
    y.add_argument("--json", help="also write the rows here")
    y.set_defaults(func=replay)
    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
