"""The pipeline's ``Model`` artifacts: a TF Serving SavedModel plus what the next run needs.

Layout (the Trainer's ``fn_args.serving_model_dir`` is ``<uri>/Format-Serving``)::

    Format-Serving/           SavedModel from ``serving.export.export_model`` (serving_default over serialized
                              tf.Examples, predict_ids, rank, classify, regress, all in raw ids; warm-up requests),
                              tables trimmed to the ids known so far (the OOV row is their mean), and the raw-id
                              vocabularies its lookups read in ``assets/users.txt``, ``assets/items.txt``
    asmg/model.json           role ("iu" or "generated"), span, table capacities, the ranker's name and config
    asmg/weights.npz          trainable weights at full capacity (name -> array)
    asmg/iu_state/            the IU model *and* its Adam state after this span: where the next IU warm-starts
    asmg/pretrained/          (the pretraining run's IU model only) the pretrained model and Adam state

Every Model the pipeline writes carries ``asmg/iu_state`` of the same run's IU model (see ``pipeline.artifacts``).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import tensorflow as tf

from asmg_tf.data.vocab import IdVocabulary
from asmg_tf.models.presets import TrainConfig
from asmg_tf.models.registry import DEFAULT_RANKER, from_description, id_tables_of, ranker_name
from asmg_tf.models.weights import get_weights, set_weights
from asmg_tf.training.loop import compile_model, ensure_built, make_optimizer
from asmg_tf.training.state import create_slots, read_checkpoint, write_checkpoint
from pipeline import fs
from pipeline import state as S
from pipeline.capacity import at_capacity, fresh_weights, transfer_trainable, weights_capacity

SERVING_DIR = "Format-Serving"
ASMG_DIR = "asmg"
INFO = "model.json"
WEIGHTS = "weights.npz"
IU_STATE = "iu_state"


PRETRAINED = "pretrained"


def pretrained_dir(uri: str) -> str:
    return os.path.join(uri, ASMG_DIR, PRETRAINED)


def serving_dir(uri: str) -> str:
    return os.path.join(uri, SERVING_DIR)


def read_info(uri: str) -> dict:
    path = fs.join(uri, ASMG_DIR, INFO)
    if not fs.exists(path):
        raise FileNotFoundError(f"{uri} is not a model written by this pipeline (no {ASMG_DIR}/{INFO})")
    return S.read_json(path)


def weights_path(uri: str) -> str:
    return fs.join(uri, ASMG_DIR, WEIGHTS)


def load_weights(uri: str) -> dict[str, np.ndarray]:
    return fs.load_npz(weights_path(uri))


def description(info: dict, config_key: str = "config") -> dict:
    """The ranker description (``asmg_tf.models.registry``) recorded in a ``model.json`` (or a history's info,
    ``config_key="model_config"``); records from before rankers were selectable hold the default ranker."""
    return {"model": info.get("model", DEFAULT_RANKER), "config": info[config_key]}


def model_from_description(desc: dict) -> tf.keras.Model:
    model = from_description(desc)
    ensure_built(model)
    return model


def model_with_weights(desc: dict, weights: dict[str, np.ndarray]) -> tf.keras.Model:
    model = model_from_description(desc)
    set_weights(model, weights)
    return model


def resized(desc: dict, capacity: dict[str, int]) -> dict:
    """``desc`` with its table sizes set to ``capacity``."""
    return {**desc, "config": {**desc["config"], **{"num_" + space: n for space, n in capacity.items()}}}


def trimmed(model: tf.keras.Model, sizes: dict[str, int]) -> tf.keras.Model:
    """A copy holding only the first ``sizes`` rows of each id table (the ids known so far)."""
    weights = get_weights(model)
    for key, space in model.id_tables().items():
        weights[key] = weights[key][: sizes[space]]
    desc = {"model": ranker_name(model), "config": model.get_config()}
    return model_with_weights(resized(desc, sizes), weights)


def vocabulary(period_dir: str) -> IdVocabulary:
    """The raw ids of the user and item rows known at a period (its ``vocab/``, append-only)."""
    return IdVocabulary(S.read_vocab(period_dir, "users"), S.read_vocab(period_dir, "items"))


def export_serving(model: tf.keras.Model, period_meta: dict, period_dir: str, dest: str, name: str = "asmg") -> str:
    """Write ``dest`` (must not exist): the trimmed model as a TF Serving version taking the raw ids of the
    period's vocabularies."""
    from serving.export import export_model

    sizes = {k: period_meta["num_" + k] for k in ("users", "items", "categories")}
    if not model.has_categories:
        sizes["categories"] = 0
    table = S.read_item_categories(period_dir) if model.has_categories else None
    # ``serving.export`` writes through the local file API: stage the version on local disk (beside ``dest`` when
    # that is local, so the final rename is atomic), then move it into place or, for a remote ``dest``, copy it
    # there (object stores have no folder rename).
    remote = fs.is_remote(dest)
    parent = fs.dirname(dest) if remote else os.path.dirname(os.path.abspath(dest))
    fs.makedirs(parent)
    staging = tempfile.mkdtemp(prefix=".tmp-export-", dir=None if remote else parent)
    try:
        version = export_model(
            trimmed(model, sizes), staging, name, version=1, item_categories=table, vocabulary=vocabulary(period_dir)
        )
        fs.publish_dir(version, dest)
    finally:
        fs.remove_tree(staging)
    return dest


def write_model(
    uri: str,
    model: tf.keras.Model,
    *,
    info: dict,
    period_meta: dict,
    period_dir: str,
    optimizer: tf.keras.optimizers.Optimizer | None = None,
    iu_state_from: str | None = None,
    export: bool = True,
) -> None:
    """Fill a Model artifact folder: serving export, weights, info and the IU state (own, or copied from the
    run's IU model at ``iu_state_from``)."""
    if export:
        export_serving(model, period_meta, period_dir, serving_dir(uri))
    asmg = fs.join(uri, ASMG_DIR)
    fs.makedirs(asmg)
    fs.save_npz(fs.join(asmg, WEIGHTS), get_weights(model))
    if optimizer is not None:
        write_checkpoint(fs.join(asmg, IU_STATE), model=model, optimizer=optimizer)
    elif iu_state_from is not None:
        fs.copy_tree(fs.join(iu_state_from, ASMG_DIR, IU_STATE), fs.join(asmg, IU_STATE))
    S.write_json(
        fs.join(asmg, INFO),
        {
            "format": "asmg-model/1",
            "model": ranker_name(model),
            "config": model.get_config(),
            "capacity": weights_capacity(get_weights(model), model.id_tables()),
            **info,
        },
    )


def restore_iu(
    uri: str, config: TrainConfig, capacity: dict[str, int], span: int
) -> tuple[tf.keras.Model, tf.keras.optimizers.Optimizer]:
    """(model, optimizer) of the IU state saved in the Model at ``uri``, enlarged to ``capacity`` if it grew."""
    desc = description(read_info(uri))
    # the IU epoch's shuffle (``Dataset.shuffle(seed=...)``) also reads TF's global seed: seed it as ``build_model``
    # does, so a process that starts at this span (a resumed backfill) shuffles as one that built models before
    tf.keras.utils.set_random_seed(config.seed)
    model = model_from_description(desc)
    optimizer = make_optimizer(config.learning_rate)
    compile_model(model, optimizer)
    create_slots(model, optimizer)
    read_checkpoint(fs.join(uri, ASMG_DIR, IU_STATE), model=model, optimizer=optimizer)
    if at_capacity(get_weights(model), model.id_tables(), capacity):
        return model, optimizer
    fresh = fresh_weights(capacity, config, span)
    bigger = model_from_description(resized(desc, capacity))
    bigger_opt = make_optimizer(config.learning_rate)
    compile_model(bigger, bigger_opt)
    transfer_trainable(model, optimizer, bigger, bigger_opt, fresh)
    return bigger, bigger_opt


def weights_at_capacity(
    weights: dict[str, np.ndarray], capacity: dict[str, int], config: TrainConfig, span: int, desc: dict
) -> dict[str, np.ndarray]:
    """``weights`` (of the ranker ``desc``) enlarged to ``capacity`` with the same new rows ``restore_iu`` gives
    (identity when equal)."""
    tables = id_tables_of(desc)
    if at_capacity(weights, tables, capacity):
        return weights
    from pipeline.capacity import grow_weights

    return grow_weights(weights, fresh_weights(capacity, config, span), tables)
