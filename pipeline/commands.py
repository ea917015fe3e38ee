"""Handlers of ``asmg pipeline ...`` (imported only when a pipeline command runs)."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING

import asmg_tf  # noqa: F401  (legacy Keras first)

if TYPE_CHECKING:
    from pipeline.runners.local import LocalPipeline


def _fail(command: str, error: Exception, root: str | None = None) -> int:
    from asmg_tf.storage_errors import out_of_space

    print(f"asmg pipeline {command}: {out_of_space(error, root) or error}", file=sys.stderr)
    return 1


def quiet_logs() -> None:
    """TFX logs every artifact at INFO/WARNING; keep the terminal to our progress and errors."""
    import logging

    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)


def prepare_process() -> None:
    """Before TensorFlow loads: oneDNN off, as in ``asmg bench`` (``asmg_tf.determinism``), so reruns reproduce;
    and quiet TFX logs."""
    from asmg_tf import determinism

    determinism.prepare()
    quiet_logs()


def _knob_overrides(args) -> dict:
    out = {
        "method": args.method,
        "warmup_periods": args.warmup,
        "bless_window": args.bless_window,
        "bless_threshold": args.bless_threshold,
        "bless_metric": args.bless_metric,
        "push": args.push,
        "capacity_headroom": args.capacity_headroom,
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "pretrain_epochs": args.pretrain_epochs,
        "train_seed": args.seed,
        "sample_seed": args.sample_seed,
        "beam_pipeline_args": args.beam_arg,
    }
    if args.no_cache:
        out["enable_cache"] = False
    out.update(_model_knobs(args))
    return {k: v for k, v in out.items() if v is not None}


def _model_knobs(args) -> dict:
    """``model``, ``model_options`` and ``model_module`` from the command line, checked before any run: the ranker
    must be registered (shipped, or by the module, which must also define the Trainer's ``run_fn``)."""
    from asmg_tf.models.registry import DEFAULT_RANKER, ranker_class

    if not (args.model or args.model_option or args.model_module):
        return {}
    model = args.model or DEFAULT_RANKER
    module = os.path.abspath(args.model_module) if args.model_module else None
    if module:
        from pipeline.user_module import check_model_module

        check_model_module(module, model)  # registers it
    else:
        ranker_class(model)
    return {"model": model, "model_options": dict(args.model_option) or None, "model_module": module}


def _with_options(knobs: dict, options: list[tuple[str, str, object]]) -> dict:
    """``knobs`` with the ``--option METHOD.KEY=VALUE`` settings of the pipeline's method (another method's options
    are an error: a pipeline runs one method)."""
    from pipeline import DEFAULT_METHOD

    if not options:
        return knobs
    method = knobs.get("method") or DEFAULT_METHOD
    others = sorted({m for m, _, _ in options if m != method})
    if others:
        raise ValueError(f"--option names {others}, but this pipeline runs {method!r}: use {method}.KEY=VALUE")
    return {**knobs, "method_options": {k: v for _, k, v in options}}


def _protocol(base: dict, pairs: list) -> dict:
    proto = dict(base)
    proto.update(dict(pairs))
    from asmg_tf.data.periods import Protocol

    Protocol(**proto)  # validates
    return proto


def make_spans(args, out: str) -> dict:
    """Cut ``--data`` (or the synthetic stream) into span folders under ``out``."""
    from pipeline.spans import write_spans

    if args.data:
        from asmg_tf.data.readers import detect_format, load_interactions

        fmt = args.format or detect_format(args.data)
        if fmt == "paper-csv":
            raise ValueError("paper-csv files hold preprocessed samples, not raw events; the pipeline needs a raw log")
        inter = load_interactions(args.data, fmt)
    else:
        from asmg_tf.data.synthetic import synthetic_stream

        inter = synthetic_stream(seed=args.data_seed, num_periods=args.num_periods, **dict(args.synthetic))
    split = args.split or _default_split(inter, args.num_periods)
    return write_spans(inter, out, split=split, num_periods=args.num_periods, seed=args.data_seed, overwrite=True)


def _default_split(inter, num_periods: int) -> str:
    """As ``asmg bench``: calendar days for day-granular data covering the periods, else equal counts."""
    import numpy as np

    days = np.unique(inter.events["timestamp"].to_numpy() // 86400).shape[0]
    return "day" if inter.history_granularity == "day" and days >= num_periods else "count"


def open_root(args) -> LocalPipeline:
    """The pipeline root of ``args.root``: reopened (knobs must agree) or created from the data options."""
    from pipeline.runners.local import CONFIG, LocalPipeline, knobs_from_spans

    overrides = _knob_overrides(args)
    root = os.path.abspath(args.root)
    if os.path.exists(os.path.join(root, CONFIG)):
        if args.spans or args.data or args.synthetic:
            print(f"{root} exists: its data stay as they are (--spans/--data/--synthetic ignored)", file=sys.stderr)
        lp = LocalPipeline(root)
        knobs = _with_options({**lp.knobs, **overrides}, args.option)
        if args.protocol:
            knobs["protocol"] = _protocol(lp.knobs["protocol"], args.protocol)
        return LocalPipeline.create(root, knobs)
    spans = os.path.abspath(args.spans) if args.spans else os.path.join(root, "spans")
    if not args.spans:
        print(f"cutting {'the synthetic stream' if not args.data else args.data} into {spans}", file=sys.stderr)
        make_spans(args, spans)
    knobs = _with_options(knobs_from_spans(spans, **overrides), args.option)
    knobs["protocol"] = _protocol(knobs["protocol"], args.protocol)
    return LocalPipeline.create(root, knobs)


def run(args) -> int:
    prepare_process()
    try:
        lp = open_root(args)
        seconds = lp.run(args.span)
    except Exception as e:  # noqa: BLE001  (one clear line instead of a TFX traceback)
        return _fail("run", e, args.root)
    print(f"span {args.span}: done in {seconds:.1f} s; served versions under {lp.serving_dir}")
    return 0


def backfill(args) -> int:
    prepare_process()
    try:
        lp = open_root(args)
        result = lp.backfill(args.first, args.last, progress=not args.quiet)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001
        return _fail("backfill", e, args.root)
    ran = result["ran"]
    print(
        f"backfill: {len(ran)} span(s) run in {result['seconds']:.1f} s"
        + (f" ({sum(ran.values()) / len(ran):.1f} s per span)" if ran else "")
        + (f", {len(result['skipped'])} already finished" if result["skipped"] else "")
    )
    _print_served(lp)
    return _print_metrics(lp, os.path.join(lp.root, "reports"))


def _print_served(lp) -> None:
    from serving.export import list_versions

    versions = list_versions(lp.serving_dir)
    if versions:
        print(f"served model: {lp.serving_dir} (TF Serving --model_base_path; latest version {versions[-1]})")
    else:
        print(f"no version pushed yet under {lp.serving_dir}")


def _print_metrics(lp, png_dir: str | None, as_json: bool = False) -> int:
    from pipeline.metrics_report import report

    if not os.path.exists(lp.metadata_path):
        print("no runs yet under this root", file=sys.stderr)
        return 1
    r = report(lp.metadata_path, lp.protocol.test_iterations, png_dir, root=lp.root)
    if as_json:
        print(json.dumps(list(r["rows"].values()), indent=1))
        return 0
    print(r["table"])
    if r["summary"]:
        print(r["summary"])
    if r["plot"]:
        print(f"plot: {r['plot']}")
    return 0


def metrics(args) -> int:
    from pipeline.runners.local import LocalPipeline

    try:
        lp = LocalPipeline(args.root)
        rc = _print_metrics(lp, args.png or os.path.join(lp.root, "reports"), args.json)
        if args.timings:
            from pipeline.timings import format_summary, summary

            print(format_summary(summary(lp.root, lp.metadata_path, lp.protocol.update_start)))
        return rc
    except Exception as e:  # noqa: BLE001
        return _fail("metrics", e)


def compile(args) -> int:  # noqa: A001  (the subcommand's name)
    prepare_process()
    from pipeline.runners.kubeflow import compile_pipeline
    from pipeline.spans import read_spans_info

    try:
        knobs = _with_options(_knob_overrides(args), args.option)
        if args.spans_info:
            info = read_spans_info(os.path.dirname(os.path.abspath(args.spans_info)))
            knobs.update(
                explicit=info["explicit"],
                positive_rating=info["positive_rating"],
                history_granularity=info["history_granularity"],
                has_categories=info["has_categories"],
                data_kind=info["kind"],
                protocol=_protocol(info["protocol"], args.protocol),
            )
        elif args.protocol:
            knobs["protocol"] = _protocol({}, args.protocol)
        if args.data_kind:
            knobs["data_kind"] = args.data_kind
        start = time.perf_counter()
        job = compile_pipeline(
            args.output,
            image=args.image,
            pipeline_root=args.pipeline_root,
            spans_root=args.spans_root,
            serving_dir=args.serving_dir,
            knobs=knobs,
        )
    except Exception as e:  # noqa: BLE001
        return _fail("compile", e)
    tasks = sorted(job["pipelineSpec"]["root"]["dag"]["tasks"])
    print(f"compiled {len(tasks)} tasks in {time.perf_counter() - start:.1f} s -> {args.output}")
    return 0


def spans(args) -> int:
    try:
        info = make_spans(args, args.out) if args.overwrite or not os.path.exists(args.out) else None
    except Exception as e:  # noqa: BLE001
        return _fail("spans", e)
    if info is None:
        return _fail("spans", FileExistsError(f"{args.out} exists; pass --overwrite to replace it"))
    sizes = info["events_per_span"]
    print(f"{len(sizes)} spans ({', '.join(f'{k}: {v}' for k, v in list(sizes.items())[:4])}, ...) -> {args.out}")
    return 0
