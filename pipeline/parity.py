"""The pipeline against ``asmg bench``: the same library code on the same periods must give the same numbers.

``pipeline_period_set`` assembles the examples the pipeline built (its ids, its table capacities, the category table)
into a ``PeriodSet``; ``bench_rows`` runs methods on it the way ``asmg bench`` does (``Context`` + ``run_method``);
``compare`` lines both up per iteration: pipeline span t's TestThenTrain row holds the models of iteration t-1
scored on period t, which is bench iteration t-1.
"""

from __future__ import annotations

import os

from asmg_tf.data.periods import PeriodSet
from asmg_tf.models.presets import TrainConfig
from pipeline import state as S
from pipeline.examples import read_period
from pipeline.metadata import artifacts_by_span, open_store
from pipeline.metrics_report import metrics_rows
from pipeline.runners.local import LocalPipeline


def _newest(by_span: dict[int, list], predicate=lambda a: True) -> dict[int, object]:
    out = {}
    for span, artifacts in by_span.items():
        chosen = [a for a in artifacts if predicate(a)]
        if chosen:
            out[span] = chosen[-1]
    return out


def pipeline_period_set(root: str) -> PeriodSet:
    """Every span's examples (as the pipeline built them) as the periods of one ``PeriodSet``."""
    lp = LocalPipeline(root)
    proto = lp.protocol
    with open_store(lp.metadata_path) as store:
        examples = _newest(artifacts_by_span(store, "Examples"), lambda a: "trainable" in a.custom_properties)
    missing = [t for t in range(1, proto.num_periods + 1) if t not in examples]
    if missing:
        raise ValueError(f"the pipeline under {root} has not transformed spans {missing} yet")
    periods = [read_period(S.split_files(examples[t].uri, "period")) for t in range(1, proto.num_periods + 1)]
    last = examples[proto.num_periods].uri
    at_pretrain = S.read_period_meta(examples[proto.update_start].uri)
    meta = S.read_period_meta(last)
    if meta["capacity"] != at_pretrain["capacity"]:
        raise ValueError(
            f"tables grew after pretraining ({at_pretrain['capacity']} -> {meta['capacity']}): the bench cannot "
            "replay that; compare on a run whose capacity headroom covers every id"
        )
    cap = meta["capacity"]
    table = S.category_table(last, meta)
    return PeriodSet(
        name="pipeline",
        kind=lp.knobs.get("data_kind", "sobazaar"),
        periods=periods,
        num_users=cap["users"],
        num_items=cap["items"],
        num_categories=cap["categories"],
        item_categories=table,
        protocol=proto,
    )


def train_config(root: str) -> TrainConfig:
    from pipeline.factory import train_config_dict

    k = LocalPipeline(root).knobs
    return TrainConfig(
        **train_config_dict(
            k.get("data_kind", "sobazaar"),
            k.get("learning_rate"),
            k.get("batch_size"),
            k.get("pretrain_epochs"),
            k.get("embedding_dim"),
            k.get("train_seed"),
            k.get("model"),
            k.get("model_options"),
        )
    )


def bench_rows(root: str, out: str, methods: dict[str, dict]) -> dict[str, list[dict]]:
    """``{method: per-period rows}`` of ``asmg bench``'s runner on the pipeline's periods (cache under ``out``)."""
    from asmg_tf.bench.runner import run_method
    from asmg_tf.updaters import Context

    periods = pipeline_period_set(root)
    module = LocalPipeline(root).knobs.get("model_module")
    if module:  # the root's ranker is the user's: register it here too
        from asmg_tf.models.registry import import_model_module

        import_model_module(module)
    ctx = Context(periods, train_config(root), os.path.join(out, "cache"), log=lambda m: None)
    return {name: run_method(name, ctx, out, options=opts)["per_period"] for name, opts in methods.items()}


def compare(root: str, out: str) -> list[dict]:
    """Per iteration: the pipeline's and the bench's AUC/LogLoss of the IU and the generated models."""
    lp = LocalPipeline(root)
    method = lp.knobs["method"]
    bench = bench_rows(root, out, {"iu": {}, method: lp.knobs.get("method_options") or {}})
    pipe = metrics_rows(lp.metadata_path)
    rows = []
    for kind, name in (("iu", "iu"), ("generated", method)):
        for b in bench[name]:
            p = pipe.get(b["iteration"] + 1, {}).get(kind)
            if p is None:
                continue
            rows.append(
                {
                    "model": kind,
                    "iteration": b["iteration"],
                    "pipeline_auc": p["auc"],
                    "bench_auc": b["auc"],
                    "pipeline_logloss": p["logloss"],
                    "bench_logloss": b["logloss"],
                }
            )
    return rows
