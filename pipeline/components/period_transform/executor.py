"""PeriodTransform executor: check the span, run the Beam graph, then roll the state forward.

Order of work: refuse a span with anomalies (nothing downstream runs, nothing is pushed); check that the carried
state is the previous span's (periods run in order); run ``beam_steps.build_period_graph``; append the new ids to
the vocabularies (old indices never move), extend the category table, grow table capacities when needed, keep or
hand over the pretraining buffer, and write the state's and the examples' metadata.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

from pipeline import fs
from pipeline import state as S
from pipeline.artifacts import SPAN
from pipeline.capacity import grow_capacity
from pipeline.components.period_transform import beam_steps
from pipeline.components.validation import raise_on_anomalies

PERIOD_SPLIT = "period"
PRETRAIN_SPLIT = "pretrain"


class Executor(base_beam_executor.BaseBeamExecutor):
    """Turns one span of raw events into the period's examples and the next state."""

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        raw = artifact_utils.get_single_instance(input_dict["events"])
        span = artifact_span(raw)
        raise_on_anomalies(artifact_utils.get_single_instance(input_dict["anomalies"]), span)
        settings = json.loads(exec_properties["settings"])
        previous = input_dict.get("previous_state") or []
        old = previous[0].uri if previous else None
        old_meta = check_order(old, span, settings)
        event_files = S.split_files(raw.uri, PERIOD_SPLIT)
        if not event_files:
            raise ValueError(f"span {span}: the ExampleGen output has no '{PERIOD_SPLIT}' split files under {raw.uri}")
        examples = artifact_utils.get_single_instance(output_dict["examples"])
        state = artifact_utils.get_single_instance(output_dict["state"])
        sizes = {k: old_meta["num_" + k] for k in S.VOCABS} if old_meta else dict.fromkeys(S.VOCABS, 0)
        side = os.path.join(state.uri, ".side")  # beside the outputs: Beam workers may run elsewhere
        try:
            with self._make_beam_pipeline() as p:
                beam_steps.build_period_graph(
                    p,
                    event_files=event_files,
                    old_state=old,
                    sizes=sizes,
                    settings=settings,
                    span=span,
                    examples_dir=os.path.join(examples.uri, f"Split-{PERIOD_SPLIT}"),
                    state_users_dir=os.path.join(state.uri, S.USERS_DIR),
                    side_dir=side,
                )
            new = {k: json.loads(_read(os.path.join(side, f"new_{k}.json"))) for k in S.VOCABS}
            counts = {
                **json.loads(_read(os.path.join(side, "counts.json"))),
                **json.loads(_read(os.path.join(side, "events.json"))),
            }
        finally:
            fs.remove_tree(side)
        if counts["events"] == 0:
            raise ValueError(f"span {span} is empty: no events to learn from; nothing was trained or pushed")
        meta = roll_state(old, old_meta, state.uri, span, settings, new, counts)
        splits = write_period(examples.uri, state.uri, old, meta, settings)
        examples.split_names = artifact_utils.encode_split_names(splits)
        examples.span = span
        for artifact in (examples, state):
            artifact.set_int_custom_property(SPAN, span)
        examples.set_int_custom_property("trainable", int(meta["trainable"]))
        examples.set_int_custom_property("num_examples", counts["examples"])


def artifact_span(artifact) -> int:
    """The span ExampleGen recorded (a custom property in TFX 1.21, the ``span`` property in older releases)."""
    if artifact.has_custom_property(SPAN):
        return int(artifact.get_int_custom_property(SPAN))
    return int(artifact.span)


def _read(path: str) -> str:
    return fs.read_text(path).strip()


def check_order(old: str | None, span: int, settings: dict) -> dict | None:
    """The previous state's meta; errors when spans are skipped or repeated, or settings changed mid-stream."""
    if old is None:
        if span != settings["first_span"]:
            raise ValueError(
                f"span {span} has no state from span {span - 1}: periods must run in order from span "
                f"{settings['first_span']} (use `asmg pipeline backfill`)"
            )
        return None
    meta = S.read_json(os.path.join(old, S.META))
    if meta["span"] != span - 1:
        raise ValueError(f"span {span} needs the state after span {span - 1}, got the state after span {meta['span']}")
    if meta["settings"] != settings:
        changed = sorted(k for k in settings if meta["settings"].get(k) != settings[k])
        raise ValueError(
            f"span {span}: preprocessing settings {changed} differ from those the state was built with "
            f"({ {k: meta['settings'].get(k) for k in changed} } -> { {k: settings[k] for k in changed} }); "
            "ids and histories would no longer be consistent: start a new pipeline root"
        )
    return meta


def roll_state(old, old_meta, out: str, span: int, settings: dict, new: dict, counts: dict) -> dict:
    """Write vocabularies, category table, pretraining buffer and meta of the new state; return the meta."""
    vocab = {k: (S.read_vocab(old, k) if old else []) for k in S.VOCABS}
    for k in S.VOCABS:
        S.write_vocab(out, k, vocab[k], [raw for raw, _ in new[k]])
    sizes = {k: len(vocab[k]) + len(new[k]) for k in S.VOCABS}
    if settings["has_categories"]:
        table = beam_steps.category_table(
            os.path.join(old, S.ITEM_CATEGORIES) if old else None,
            new["items"],
            {raw: n for n, raw in enumerate(vocab["categories"] + [r for r, _ in new["categories"]])},
        )
        fs.save_npy(fs.join(out, S.ITEM_CATEGORIES), table)
        width = int(table.shape[1])
    else:
        width = 0
    capacity = grow_capacity(old_meta["capacity"] if old_meta else {}, sizes, settings["capacity_headroom"])
    pretrain_spans = list(old_meta["pretrain_spans"]) if old_meta else []
    if old:
        for t in pretrain_spans:
            S.copy_tree_files(S.pretrain_span_dir(old, t), S.pretrain_span_dir(out, t))
    meta = {
        "format": S.STATE_FORMAT,
        "span": span,
        "spans": (old_meta["spans"] if old_meta else []) + [span],
        "num_users": sizes["users"],
        "num_items": sizes["items"],
        "num_categories": sizes["categories"],
        "new": {k: len(new[k]) for k in S.VOCABS},
        "capacity": capacity,
        "capacity_grown": bool(old_meta) and capacity != old_meta["capacity"],
        "categories_width": width,
        "counts": counts,
        "settings": settings,
        "trainable": span >= settings["update_start"],
        "pretrain_spans": pretrain_spans,
    }
    return meta


def write_period(examples_uri: str, state_uri: str, old: str | None, meta: dict, settings: dict) -> list[str]:
    """Finish both artifacts: the pretraining buffer (kept, extended or handed to the examples) and the metadata
    the downstream components read; returns the example split names."""
    span = meta["span"]
    splits = [PERIOD_SPLIT]
    period_files = S.split_files(examples_uri, PERIOD_SPLIT)
    if 1 <= span <= settings["pretrain_end"]:
        for f in period_files:
            fs.copy_file(f, fs.join(S.pretrain_span_dir(state_uri, span), fs.basename(f)))
        meta["pretrain_spans"] = meta["pretrain_spans"] + [span]
    elif span == settings["update_start"]:
        missing = [t for t in range(1, settings["pretrain_end"] + 1) if t not in meta["pretrain_spans"]]
        if missing:
            raise ValueError(f"span {span} pretrains, but the state holds no examples of pretraining spans {missing}")
        for t in meta["pretrain_spans"]:
            S.copy_tree_files(
                S.pretrain_span_dir(state_uri, t),
                os.path.join(examples_uri, f"Split-{PRETRAIN_SPLIT}"),
                f"span-{t:05d}-",
            )
        fs.remove_tree(fs.join(state_uri, S.PRETRAIN_DIR))
        meta["pretrain_spans"] = []
        splits.append(PRETRAIN_SPLIT)
    S.write_json(os.path.join(state_uri, S.META), meta)
    period_dir = os.path.join(examples_uri, S.PERIOD_DIR)
    fs.makedirs(period_dir)
    S.write_json(os.path.join(period_dir, S.META), {**meta, "splits": splits})
    if fs.exists(fs.join(state_uri, S.ITEM_CATEGORIES)):
        fs.copy_file(fs.join(state_uri, S.ITEM_CATEGORIES), fs.join(period_dir, S.ITEM_CATEGORIES))
    fs.copy_tree(fs.join(state_uri, S.VOCAB_DIR), fs.join(period_dir, S.VOCAB_DIR))
    return splits
