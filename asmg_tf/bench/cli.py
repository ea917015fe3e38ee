"""``asmg bench``: the parser (argparse only) and its handler, which checks every argument before TensorFlow loads."""

from __future__ import annotations

import os
import sys

from asmg_tf.cli_args import add_no_wait, add_ranker_args, key_value, method_option, split_names
from asmg_tf.data.readers import READERS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="compare update methods on the paper's period protocol",
        description="Run update methods (IU, BU, SPMF, IncCTR, SML, ASMG, ...) on the same periods and report mean "
        "AUC/LogLoss over the test iterations, per-period JSON/CSV and a PNG plot.",
    )
    p.add_argument("--data", help="data file or folder; omit for the embedded synthetic stream")
    p.add_argument("--format", choices=tuple(READERS), help="reader for --data (default: auto-detect)")
    p.add_argument("--split", choices=("count", "day", "week", "month"), help="period cut (default per format)")
    p.add_argument("--num-periods", type=int, default=31)
    p.add_argument("--methods", default="iu", help="comma-separated method names (default: iu)")
    p.add_argument("--out", default="runs/bench", help="output folder (results.json, per_period.csv, plot)")
    p.add_argument("--cache-dir", help="cache of periods / pretrained models (default ~/.cache/asmg)")
    p.add_argument("--seed", type=int, help="base-model seed: initialisation and shuffles (default: the preset's)")
    p.add_argument(
        "--sample-seed",
        type=int,
        default=1234,
        help="negative-sampling seed (and the synthetic stream's; default 1234)",
    )
    p.add_argument("--repeats", type=int, default=1, help="replicates: N runs with base-model seeds --seed, --seed+1, "
                   "...; the report gives mean ± sd and paired differences vs IU with 95%% intervals (default 1)")  # fmt: skip
    p.add_argument(
        "--seeds", default="", help="comma-separated base-model seeds of the replicates (instead of --repeats)"
    )
    p.add_argument("--vary-sample-seed", action="store_true",
                   help="replicate r also samples negatives with --sample-seed + r (its own periods)")  # fmt: skip
    p.add_argument("--reference", help="a method every other is also compared with, paired per replicate (besides iu)")
    p.add_argument("--lr", type=float, help="base-model learning rate (default: the paper's for the data kind)")
    p.add_argument("--batch-size", type=int, help="base-model batch size (default: the paper's for the data kind)")
    p.add_argument("--pretrain-epochs", type=int, help="pretraining epochs (default 10)")
    p.add_argument("--option", action="append", default=[], type=method_option, metavar="METHOD.KEY=VALUE",
                   help="a method option, e.g. asmg_gru_multi.k=4 (repeatable)")  # fmt: skip
    add_ranker_args(p)
    p.add_argument("--list-models", action="store_true", help="print the available rankers and exit")
    p.add_argument("--synthetic", action="append", default=[], type=key_value, metavar="KEY=VALUE",
                   help="synthetic stream option, e.g. num_users=50000 (repeatable)")  # fmt: skip
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--plot-methods", default="", help="comma-separated methods for a second plot, "
                   "auc_per_period_selected.png (e.g. iu,asmg_gru_multi,asmg_plus)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--list-methods", action="store_true", help="print the available methods and exit")
    add_no_wait(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Check the arguments (no TensorFlow yet), then run the bench; a data error is one message and exit code 2."""
    from asmg_tf.method_names import METHOD_NAMES
    from asmg_tf.model_names import SHIPPED_RANKERS

    if args.list_methods:
        print("\n".join(sorted(METHOD_NAMES)))
        return 0
    if args.list_models:
        return _list_models(args.model_module)
    methods = split_names(args.methods)
    problems = []
    if args.data and not os.path.exists(args.data):
        problems.append(f"--data {args.data}: no such file or folder")
    if args.model_module and not os.path.isfile(args.model_module):
        problems.append(f"--model-module {args.model_module}: no such file")
    elif not args.model_module and args.model and args.model not in SHIPPED_RANKERS:
        problems.append(f"unknown model {args.model!r}; `asmg bench --list-models` lists them (or --model-module)")
    unknown = [m for m in methods + split_names(args.plot_methods) if m not in METHOD_NAMES]
    unknown += [m for m, _, _ in args.option if m not in METHOD_NAMES]
    if unknown:
        problems.append(f"unknown method(s) {sorted(set(unknown))}; `asmg bench --list-methods` lists them")
    if not methods:
        problems.append("--methods names no method")
    if args.reference and args.reference not in methods:
        problems.append(f"--reference {args.reference}: not among --methods")
    try:
        seeds = [int(s) for s in split_names(args.seeds)]
    except ValueError:
        seeds = []
        problems.append(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 123,124,125")
    if args.repeats < 1:
        problems.append(f"--repeats {args.repeats}: give 1 or more")
    if seeds and (args.repeats != 1 or args.seed is not None):
        problems.append("--seeds names every replicate's seed: give it without --repeats and --seed")
    if len(set(seeds)) != len(seeds):
        problems.append(f"--seeds {args.seeds}: a seed appears twice")
    if problems:
        print("\n".join(f"asmg bench: {p}" for p in problems), file=sys.stderr)
        return 2
    options: dict = {}
    for method, key, value in args.option:
        options.setdefault(method, {})[key] = value
    from asmg_tf.locking import exclusive

    with exclusive(args.out, sweep=True):  # one bench per --out; before TensorFlow loads, so --no-wait is quick
        return _run_bench(args, methods, options, seeds)


def _list_models(module: str | None) -> int:
    """The shipped rankers (without loading TensorFlow), or every registered one after importing ``module``."""
    from asmg_tf.model_names import SHIPPED_RANKERS

    if not module:
        print("\n".join(f"{name:<14} {line}" for name, (_, line) in SHIPPED_RANKERS.items()))
        return 0
    from asmg_tf.quiet import import_tensorflow

    import_tensorflow()
    from asmg_tf.models.registry import import_model_module, ranker_names

    try:
        import_model_module(module)
    except ValueError as e:
        print(f"asmg bench: {e}", file=sys.stderr)
        return 2
    print("\n".join(ranker_names()))
    return 0


def _run_bench(args, methods: list[str], options: dict, seeds: list[int]) -> int:
    from asmg_tf import determinism
    from asmg_tf.quiet import import_tensorflow

    determinism.prepare()  # oneDNN off before TensorFlow loads: reruns reproduce to the last digit
    import_tensorflow(verbose=getattr(args, "verbose", False))
    from asmg_tf.bench.bench import BenchSpec, run_bench
    from asmg_tf.data.errors import DataError
    from asmg_tf.model_names import DEFAULT_RANKER
    from asmg_tf.models.registry import import_model_module, ranker_class

    try:
        if args.model_module:
            import_model_module(args.model_module)
        ranker_class(args.model or DEFAULT_RANKER)
    except ValueError as e:
        print(f"asmg bench: {e}", file=sys.stderr)
        return 2

    spec = BenchSpec(
        data=args.data,
        format=args.format,
        split=args.split,
        num_periods=args.num_periods,
        sample_seed=args.sample_seed,
        model_seed=args.seed,
        repeats=args.repeats,
        seeds=tuple(seeds),
        vary_sample_seed=args.vary_sample_seed,
        reference=args.reference,
        methods=tuple(methods),
        out=args.out,
        cache_dir=args.cache_dir,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        pretrain_epochs=args.pretrain_epochs,
        model=args.model or DEFAULT_RANKER,
        model_options=dict(args.model_option),
        model_module=args.model_module,
        options=options,
        synthetic=dict(args.synthetic),
        plot=not args.no_plot,
        plot_methods=tuple(split_names(args.plot_methods)),
        quiet=args.quiet,
    )
    try:
        run_bench(spec)
    except DataError as e:
        print(f"asmg bench: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("asmg bench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as e:  # a full disk is one line, not a traceback
        from asmg_tf.storage_errors import out_of_space

        message = out_of_space(e, args.out)
        if message is None:
            raise
        print(f"asmg bench: {message}", file=sys.stderr)
        return 1
    return 0
