"""Id tables with room to grow: capacities, and enlarging weights, Adam slots and per-row generator state.

Ids are append-only, so a model keeps serving old ids when new ones arrive; tables are allocated with headroom
(``capacity = ceil(n * (1 + headroom))``) and enlarged the same way when the vocabulary outgrows them. New rows of a
model get the base model's own initialisation (rows of a freshly built model of the new size, seeded by the span),
Adam's slots for them start at zero, and the generator's hidden state for them starts at zero (as for the first
window). Unused rows are never looked up and, with zero Adam slots, never move.
"""

from __future__ import annotations

import math
import types

import numpy as np
import tensorflow as tf

from asmg_tf.models.presets import TrainConfig
from asmg_tf.models.ranker import ID_SPACES
from asmg_tf.models.weights import get_weights, named_trainable_variables
from asmg_tf.training.state import create_slots


def next_capacity(current: int, needed: int, headroom: float, minimum: int = 8) -> int:
    """``current`` while it holds ``needed`` rows, else ``max(minimum, ceil(needed * (1 + headroom)))``."""
    if headroom < 0:
        raise ValueError(f"capacity headroom must be >= 0, got {headroom}")
    if needed <= current:
        return int(current)
    return int(max(minimum, math.ceil(needed * (1.0 + headroom))))


def grow_capacity(capacity: dict[str, int], sizes: dict[str, int], headroom: float) -> dict[str, int]:
    """Capacities after seeing ``sizes`` (categories stay 0 for data without categories)."""
    out = {}
    for name in ("users", "items", "categories"):
        needed = int(sizes.get(name, 0))
        out[name] = (
            0 if needed == 0 and not capacity.get(name) else next_capacity(capacity.get(name, 0), needed, headroom)
        )
    return out


def sizes_namespace(capacity: dict[str, int]) -> types.SimpleNamespace:
    """What ``asmg_tf.training.pretrain.build_model`` reads off a ``PeriodSet``: the table sizes."""
    return types.SimpleNamespace(
        num_users=capacity["users"], num_items=capacity["items"], num_categories=capacity["categories"]
    )


def fresh_weights(capacity: dict[str, int], config: TrainConfig, span: int) -> dict[str, np.ndarray]:
    """Weights of a freshly initialised base model of this capacity (the source of new rows)."""
    from asmg_tf.training.pretrain import build_model

    return get_weights(build_model(sizes_namespace(capacity), config, seed=config.seed + 7919 * span))


def grow_weights(
    weights: dict[str, np.ndarray], fresh: dict[str, np.ndarray], tables: dict[str, str]
) -> dict[str, np.ndarray]:
    """``weights`` with every id table (``tables``: the ranker's ``id_tables()``) enlarged to ``fresh``'s rows
    (old rows kept, new rows from ``fresh``); every other variable must keep its shape."""
    out = {}
    for key, value in weights.items():
        target = fresh[key]
        if value.shape == target.shape:
            out[key] = value
        elif key in tables and value.shape[1:] == target.shape[1:] and value.shape[0] < target.shape[0]:
            out[key] = np.concatenate([value, target[value.shape[0] :]]).astype(value.dtype)
        else:
            what = "id table" if key in tables else "variable that is not an id table (ranker.id_tables())"
            raise ValueError(f"{key}: cannot grow shape {value.shape} to {target.shape} ({what})")
    return out


class GrownRows:
    """``grow_weights`` by row ranges (a ``asmg_tf.generator.streaming.RowSource``): the id tables of ``source``
    read with ``fresh``'s rows past their end, without loading either model whole."""

    def __init__(self, source, fresh, tables: dict[str, str]):
        self.source, self.fresh, self.tables = source, fresh, tables

    def rows(self, name: str, start: int, stop: int) -> np.ndarray:
        have = self.source.shape(name)[0]
        if name not in self.tables or stop <= have:
            return self.source.rows(name, start, stop)
        parts = [self.source.rows(name, start, have)] if start < have else []
        return np.concatenate(parts + [self.fresh.rows(name, max(start, have), stop)])

    def value(self, name: str) -> np.ndarray:
        if name in self.tables:
            return self.rows(name, 0, self.fresh.shape(name)[0])
        return self.source.value(name)


def at_capacity(weights: dict[str, np.ndarray], tables: dict[str, str], capacity: dict[str, int]) -> bool:
    """Whether every id table of ``weights`` has the rows of ``capacity`` (spaces the ranker has no table for, e.g.
    categories of a model that ignores them, do not count)."""
    return all(int(weights[key].shape[0]) == capacity[space] for key, space in tables.items())


def weights_capacity(weights: dict[str, np.ndarray], tables: dict[str, str]) -> dict[str, int]:
    """``{"users": rows, "items": rows, "categories": rows}`` of the id tables (0 for a space without a table)."""
    out = dict.fromkeys(ID_SPACES, 0)
    for key, space in tables.items():
        out[space] = int(weights[key].shape[0])
    return out


def pad_rows(value: np.ndarray, rows: int) -> np.ndarray:
    """Zero rows appended up to ``rows``."""
    if value.shape[0] == rows:
        return value
    if value.shape[0] > rows:
        raise ValueError(f"cannot shrink {value.shape[0]} rows to {rows}")
    return np.concatenate([value, np.zeros((rows - value.shape[0], *value.shape[1:]), value.dtype)])


def transfer_trainable(
    old_model: tf.keras.Model,
    old_optimizer: tf.keras.optimizers.Optimizer,
    new_model: tf.keras.Model,
    new_optimizer: tf.keras.optimizers.Optimizer,
    fresh: dict[str, np.ndarray],
) -> None:
    """Copy a model and its legacy-Adam state into a larger model (new rows: ``fresh`` weights, zero slots)."""
    old_vars, new_vars = named_trainable_variables(old_model), named_trainable_variables(new_model)
    grown = grow_weights(get_weights(old_model), fresh, new_model.id_tables())
    create_slots(new_model, new_optimizer)
    for key, new_var in new_vars.items():
        new_var.assign(grown[key])
        for slot in new_optimizer.get_slot_names():
            rows = new_var.shape[0]
            new_optimizer.get_slot(new_var, slot).assign(
                pad_rows(old_optimizer.get_slot(old_vars[key], slot).numpy(), rows)
            )
    new_optimizer.iterations.assign(old_optimizer.iterations)


def grow_generator_state(old: tf.Module, new: tf.Module) -> None:
    """Copy a ``GeneratorState`` into one built for larger tables: per-row hidden states get zero rows, generator
    weights, Adam slots and counters are copied as they are (their shapes do not depend on the tables)."""
    old_vars, new_vars = list(old.variables), list(new.variables)
    if len(old_vars) != len(new_vars):
        raise ValueError(f"generator states differ: {len(old_vars)} vs {len(new_vars)} variables")
    for o, n in zip(old_vars, new_vars):
        value = o.numpy()
        n.assign(pad_rows(value, n.shape[0]) if value.shape != tuple(n.shape) else value)
    old_gen, new_gen = old.generator.trainable_variables, new.generator.trainable_variables
    for o, n in zip(old_gen, new_gen):
        for slot in old.optimizer.get_slot_names():
            new.optimizer.get_slot(n, slot).assign(old.optimizer.get_slot(o, slot))
    new.optimizer.iterations.assign(old.optimizer.iterations)
