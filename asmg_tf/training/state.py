"""Model + optimizer state: in-memory snapshots and atomic TensorFlow checkpoints."""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf


def snapshot(model: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer) -> list[np.ndarray]:
    """Copies of every model and optimizer variable (weights, Adam slots, iteration counter)."""
    return [v.numpy() for v in model.variables] + [v.numpy() for v in optimizer.variables()]


def restore_snapshot(model: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer, values: list[np.ndarray]) -> None:
    variables = list(model.variables) + list(optimizer.variables())
    if len(variables) != len(values):
        raise ValueError(f"snapshot has {len(values)} values for {len(variables)} variables")
    for var, val in zip(variables, values):
        var.assign(val)


def create_slots(model: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer) -> None:
    """Create a legacy optimizer's iteration counter and slots for ``model`` without taking a step, so a
    checkpoint restores into them at once (instead of a deferred restore when the first step creates them)."""
    optimizer._create_all_weights(model.trainable_variables)  # noqa: SLF001 (legacy OptimizerV2 has no public hook)


def write_checkpoint(directory: str, *, files: dict[str, str] | None = None, **trackables) -> str:
    """Write ``tf.train.Checkpoint(**trackables)`` (and ``files``: name -> text) into ``directory`` atomically.

    Everything is written into a temporary sibling folder that is renamed into place, so ``directory`` either
    holds a complete earlier checkpoint or the complete new one, never a half-written mix (the files included).
    """
    directory = os.path.abspath(directory)
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-ckpt-", dir=parent)
    try:
        if trackables:
            tf.train.Checkpoint(**trackables).write(os.path.join(tmp, "ckpt"))
        for name, text in (files or {}).items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        old = None
        if os.path.exists(directory):
            old = directory + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
        os.replace(tmp, directory)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return os.path.join(directory, "ckpt")


def read_checkpoint(directory: str, **trackables) -> None:
    """Restore a checkpoint written by ``write_checkpoint``; every saved value must find its variable."""
    path = os.path.join(directory, "ckpt")
    if not tf.io.gfile.exists(path + ".index"):
        old = directory + ".old"  # a crash between the two renames leaves the previous checkpoint here
        if tf.io.gfile.exists(os.path.join(old, "ckpt.index")):
            path = os.path.join(old, "ckpt")
        else:
            raise FileNotFoundError(f"no checkpoint in {directory}")
    tf.train.Checkpoint(**trackables).read(path).assert_existing_objects_matched()
