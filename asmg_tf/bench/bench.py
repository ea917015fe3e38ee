"""``asmg bench``: prepare (or reuse) the periods, pretrain (or reuse), run each method, report."""

from __future__ import annotations

import dataclasses
import os
import sys
import time

from asmg_tf.bench.cache import data_key, default_cache_root, train_key
from asmg_tf.bench.replicates import replicate_seeds, run_replicates
from asmg_tf.bench.report import format_summary, format_table, plot_results, write_results
from asmg_tf.bench.runner import run_method
from asmg_tf.data.periods import PeriodSet
from asmg_tf.locking import exclusive
from asmg_tf.model_names import DEFAULT_RANKER
from asmg_tf.models.presets import preset
from asmg_tf.updaters import METHODS, Context

#: without a terminal (a log file), one progress line per this many iterations
LOG_EVERY = 5


@dataclasses.dataclass
class BenchSpec:
    data: str | None = None  # file/folder; None = the synthetic stream
    format: str | None = None
    split: str | None = None
    num_periods: int = 31
    sample_seed: int = 1234  # negative sampling (and the synthetic stream)
    model_seed: int | None = None  # initialisation and shuffles (None: the preset's)
    repeats: int = 1  # replicates with seeds model_seed, model_seed + 1, ... (asmg_tf.bench.replicates)
    seeds: tuple[int, ...] = ()  # the replicates' model seeds, instead of repeats
    vary_sample_seed: bool = False  # replicate r also samples negatives with sample_seed + r
    reference: str | None = None  # a second method every other is compared with (besides IU)
    methods: tuple[str, ...] = ("iu",)
    out: str = "runs/bench"
    cache_dir: str | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    pretrain_epochs: int | None = None
    model: str = DEFAULT_RANKER  # a registered ranker (asmg_tf.models.registry)
    model_options: dict = dataclasses.field(default_factory=dict)
    model_module: str | None = None  # the user's file registering ``model`` (imported by the caller)
    options: dict = dataclasses.field(default_factory=dict)  # {method: {key: value}}
    synthetic: dict = dataclasses.field(default_factory=dict)  # options of the synthetic stream
    plot: bool = True
    plot_methods: tuple[str, ...] = ()  # also plot just these methods (auc_per_period_selected.png)
    quiet: bool = False


def _log(spec: BenchSpec):
    def log(msg: str) -> None:
        if not spec.quiet:
            print(msg, file=sys.stderr, flush=True)

    return log


def load_periods(spec: BenchSpec, cache_root: str, log=print) -> tuple[PeriodSet, str, float]:
    """The period set for ``spec``, from the cache when possible. Returns (periods, cache dir, seconds)."""
    settings = {"format": spec.format, "split": spec.split, "num_periods": spec.num_periods, "seed": spec.sample_seed}
    if spec.data is None:
        settings["synthetic"] = spec.synthetic
    key = data_key(spec.data, **settings)
    name = os.path.basename(os.path.normpath(spec.data)) if spec.data else "synthetic"
    ddir = os.path.join(cache_root, f"{name}-{key}")
    pdir = os.path.join(ddir, "periods")
    cached = _cached_periods(pdir)
    if cached is not None:
        log(f"periods: cached in {pdir}")
        return cached, ddir, 0.0
    with exclusive(ddir, sweep=True):  # one builder per cache entry; a waiter then finds it built
        cached = _cached_periods(pdir)
        if cached is not None:
            return cached, ddir, 0.0
        if os.path.exists(os.path.join(pdir, "meta.json")):
            # preprocessing is deterministic: the rebuilt arrays are the cached ones, so the pretrained model and IU
            # chain cached beside them stay valid
            log(f"periods: the cache in {pdir} keeps no raw-id vocabulary (an older asmg wrote it): rebuilding it")
        periods, seconds = _build_periods(spec, pdir, log)
        return periods, ddir, seconds


def _cached_periods(pdir: str) -> PeriodSet | None:
    """The cached set, if there is one with its raw-id vocabulary (exports need it)."""
    if not os.path.exists(os.path.join(pdir, "meta.json")):
        return None
    periods = PeriodSet.load(pdir)
    return periods if periods.vocabulary is not None else None


def _build_periods(spec: BenchSpec, pdir: str, log) -> tuple[PeriodSet, float]:
    start = time.perf_counter()
    if spec.data is None:
        from asmg_tf.data.build import make_period_set
        from asmg_tf.data.synthetic import synthetic_stream

        inter = synthetic_stream(seed=spec.sample_seed, num_periods=spec.num_periods, **spec.synthetic)
        periods = make_period_set(inter, split=spec.split or "day", num_periods=spec.num_periods, seed=spec.sample_seed)
    else:
        from asmg_tf.data.load import load_period_set

        periods = load_period_set(
            spec.data, format=spec.format, split=spec.split, num_periods=spec.num_periods, seed=spec.sample_seed
        )
    seconds = time.perf_counter() - start
    periods.summary["preprocess_seconds"] = seconds
    periods.save(pdir)
    log(f"periods: {periods.name} preprocessed in {seconds:.1f} s -> {pdir}")
    return periods, seconds


def prepare_context(spec: BenchSpec) -> tuple[Context, dict]:
    """Periods (cached), base config and pretrained model (cached) for ``spec``: ``(context, stage seconds)``."""
    log = _log(spec)
    unknown = [m for m in spec.methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; available: {', '.join(sorted(METHODS))}")
    cache_root = spec.cache_dir or default_cache_root()
    stages: dict[str, float] = {}
    periods, ddir, stages["preprocess_seconds"] = load_periods(spec, cache_root, log)
    config = preset(periods.kind).replace(
        learning_rate=spec.learning_rate,
        batch_size=spec.batch_size,
        pretrain_epochs=spec.pretrain_epochs,
        seed=spec.model_seed,
        model=spec.model,
        model_options=spec.model_options or None,
    )
    log(
        f"{periods.name}: {len(periods.periods)} periods, {sum(map(len, periods.periods))} samples, "
        f"{periods.num_users} users, {periods.num_items} items, {periods.num_categories} categories; "
        f"model {config.model}, lr {config.learning_rate}, batch {config.batch_size}"
    )
    key = train_key(config, spec.model_module)
    ctx = Context(periods, config, os.path.join(ddir, f"train-{key}"), options=spec.options, log=log)
    start = time.perf_counter()
    ctx.pretrained()
    stages["pretrain_seconds"] = ctx.pretrain_info()["seconds"]
    stages["pretrain_wall_seconds"] = time.perf_counter() - start
    return ctx, stages


def run_bench(spec: BenchSpec) -> dict:
    """Run every replicate of ``spec`` (one by default) and write the summary over them: ``results.json``,
    ``per_period.csv``, ``replicates.csv`` and the plot (per-period means, ± sd band) under ``spec.out``."""
    from asmg_tf import determinism

    seeds = replicate_seeds(spec.model_seed, spec.repeats, spec.seeds)
    reproducible = determinism.reproducible()
    summary, replicates = run_replicates(spec, seeds, run_methods)
    summary["reproducible_rerun"] = reproducible
    if spec.plot:
        summary["plot"] = plot_results(spec.out, summary)
        if spec.plot_methods:
            summary["plot_selected"] = plot_results(
                spec.out, summary, "auc_per_period_selected.png", methods=spec.plot_methods
            )
    write_results(spec.out, summary)
    if len(replicates) == 1:
        print(format_table(replicates[0]))
        print("(one replicate: no spread and no confidence interval; --repeats N runs N seeds for error bars)")
    else:
        print(format_summary(summary))
    print(f"results: {os.path.join(spec.out, 'results.json')}")
    return summary


def run_methods(spec: BenchSpec) -> dict:
    """One replicate: run every method of ``spec`` (resuming) and write its ``results.json`` and ``per_period.csv``
    under ``spec.out``."""
    from tqdm.auto import tqdm

    ctx, stages = prepare_context(spec)
    periods, config, proto = ctx.periods, ctx.config, ctx.protocol
    results = {
        "dataset": periods.name,
        "test_iterations": list(proto.test_iterations),
        "config": dataclasses.asdict(config),
        "data_summary": periods.meta(),
        "stages": stages,
        "methods": {},
    }
    os.makedirs(spec.out, exist_ok=True)
    log = _log(spec)
    for name in spec.methods:
        bar = tqdm(
            total=proto.test_end - proto.update_start + 1,
            desc=f"{name:<16}",
            unit="period",
            disable=spec.quiet or not sys.stderr.isatty(),  # a log file gets plain lines (below), not bar frames
            file=sys.stderr,
        )

        def on_start(total: int, done: int, bar=bar) -> None:
            bar.reset(total=total)
            bar.update(done)

        def on_iteration(i: int, row: dict, bar=bar, name=name) -> None:
            bar.set_postfix(i=i, auc=f"{row['auc']:.4f}")
            bar.update(1)
            if bar.disable and (i % LOG_EVERY == 0 or i == proto.test_end):
                log(f"{name}: iteration {i} of {proto.test_end}, AUC {row['auc']:.4f}")

        start = time.perf_counter()
        summary = run_method(
            name, ctx, spec.out, options=spec.options.get(name), on_iteration=on_iteration, on_start=on_start
        )
        bar.close()
        summary["wall_seconds"] = time.perf_counter() - start
        results["methods"][name] = summary
        write_results(spec.out, results)
    return results
