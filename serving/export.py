"""Export a ranker as a TF Serving SavedModel: ``<base_dir>/<name>/<integer version>/``.

Stable entry point for the TFX pipeline and the CLI::

    export_model(model, base_dir, name, version=None, item_categories=None, *, vocabulary) -> str   # version dir

The version is written into a hidden temporary folder beside it (``.tmp-*``, a name TF Serving and ``asmg serve``
ignore) and renamed into place once complete, so a half-written version never appears as a numeric directory; one
exporter at a time holds the model folder's lock (``asmg_tf.locking``: ``.asmg.lock``, ignored by servers too).

What is written: a SavedModel whose MetaGraph is tagged ``serve`` with the signatures of ``serving.schema`` (traced
by ``serving.signatures`` around an out-of-vocabulary-extended copy of the model; classify/regress carry TF
Serving's method names), ``variables/``, the raw-id vocabularies in ``assets/users.txt`` and ``assets/items.txt``
(the graph's lookup tables read them when the version loads), the warm-up records in
``assets.extra/tf_serving_warmup_requests`` and ``assets.extra/asmg_export.json`` (sizes, id spaces, config, the
OOV rule). Only variables and lookup tables are tracked, not the Keras object.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

from asmg_tf.data.vocab import SPACES, IdVocabulary
from asmg_tf.locking import exclusive
from asmg_tf.models.contract import check_ranker
from asmg_tf.models.ranker import SIZE_KEYS, RankerContractError
from asmg_tf.models.registry import describe, from_description, ranker_name
from asmg_tf.models.weights import get_weights, named_trainable_variables, set_weights
from serving import schema as S
from serving.id_lookup import IdLookup
from serving.signatures import ServingFunctions
from serving.warmup import warmup_logs, write_warmup

_MAX_VERSION = 2**63 - 1  # TF Serving versions are int64


def list_versions(model_dir: str) -> list[int]:
    """Numeric version directories of ``model_dir``, ascending (hidden or non-numeric names are ignored)."""
    return sorted(S.version_dirs(model_dir))


def next_version(model_dir: str) -> int:
    """``max(unix seconds now, latest + 1)``: increasing, and comparable with TFX Pusher's Unix-time versions."""
    versions = list_versions(model_dir)
    return max(int(time.time()), (versions[-1] + 1) if versions else 0)


def oov_extended_weights(
    weights: dict[str, np.ndarray], target_shapes: dict[str, tuple], tables: dict[str, str]
) -> dict[str, np.ndarray]:
    """Weights reshaped for a copy whose id tables (``tables``: the ranker's ``id_tables()``) have one more row:
    that row is the mean of the others. Every other weight must keep its shape."""
    if set(weights) != set(target_shapes):
        raise ValueError(
            f"the serving copy's weights {sorted(target_shapes)} differ from the model's {sorted(weights)}"
        )
    out = {}
    for key, value in weights.items():
        shape = tuple(target_shapes[key])
        if key in tables and shape == (value.shape[0] + 1, *value.shape[1:]):
            out[key] = np.concatenate([value, value.mean(axis=0, keepdims=True)], axis=0).astype(value.dtype)
        elif shape == value.shape and key not in tables:
            out[key] = value
        else:
            what = "an id table" if key in tables else "not an id table (id_tables()), yet its shape changed"
            raise RankerContractError(f"{key} ({what}): cannot extend shape {value.shape} to {shape}")
    return out


def trimmed(model: tf.keras.Model, sizes: dict[str, int]) -> tf.keras.Model:
    """``model`` itself, or a copy holding only the first ``sizes[space]`` rows of each id table named in ``sizes``
    (rows past them are capacity no id maps to, e.g. the pipeline's headroom)."""
    config = model.get_config()
    wanted = {space: n for space, n in sizes.items() if config.get(SIZE_KEYS[space]) != n}
    if not wanted:
        return model
    weights = get_weights(model)
    for key, space in model.id_tables().items():
        if space in wanted:
            weights[key] = weights[key][: wanted[space]]
    config.update({SIZE_KEYS[space]: n for space, n in wanted.items()})
    copy = from_description({"model": ranker_name(model), "config": config})
    copy(copy.example_features())
    set_weights(copy, weights)
    return copy


def _check_vocabulary(model, vocabulary: IdVocabulary) -> dict[str, int]:
    """The table sizes the vocabulary gives; a ``ValueError`` when it names more ids than the model has rows."""
    if not isinstance(vocabulary, IdVocabulary):
        raise TypeError(
            "vocabulary must be an asmg_tf.data.vocab.IdVocabulary (the raw id of every user and item row), e.g. "
            f"PeriodSet.id_vocabulary(); got {type(vocabulary).__name__}"
        )
    sizes = vocabulary.sizes()
    rows = {"users": model.num_users, "items": model.num_items}
    for space in SPACES:
        if sizes[space] > rows[space]:
            raise ValueError(
                f"the vocabulary names {sizes[space]} {space} but the model's table has {rows[space]} rows: "
                "it belongs to another model (or the model to older data)"
            )
    return sizes


def _check_inputs(model, item_categories: np.ndarray | None) -> np.ndarray | None:
    check_ranker(model)  # registered, sizes in its config, built, id tables declared, logits [B]
    if model.has_categories:
        if item_categories is None:
            raise ValueError(
                f"the model has a category table ({model.num_categories} categories): pass item_categories "
                "(int [num_items, C], -1 padded), e.g. PeriodSet.item_categories"
            )
        table = np.asarray(item_categories)
        if table.ndim != 2 or table.shape[0] != model.num_items or not np.issubdtype(table.dtype, np.integer):
            raise ValueError(f"item_categories must be int [{model.num_items}, C], got {table.dtype} {table.shape}")
        if table.size and (table.min() < -1 or table.max() >= model.num_categories):
            raise ValueError(
                f"item_categories values must lie in [-1, {model.num_categories}), got {table.min()}..{table.max()}"
            )
        return table.astype(np.int32)
    if item_categories is not None:
        raise ValueError("the model has no category table, so item_categories must be None")
    return None


def export_model(
    model: tf.keras.Model,
    base_dir: str,
    name: str,
    version: int | None = None,
    item_categories: np.ndarray | None = None,
    *,
    vocabulary: IdVocabulary,
    warmup: bool = True,
) -> str:
    """Write ``model`` as version ``version`` of model ``name`` under ``base_dir``; return the version directory.

    Args:
        model: a built ranker (``asmg_tf.models.ranker``: any registered model that keeps the contract; an IU
            model or a generated one).
        base_dir: the model base folder; the model's ``base_path`` for TF Serving is ``base_dir/name``.
        name: the model name (a single path component).
        version: a positive integer, or None for ``next_version`` (Unix seconds, and above every existing one).
        item_categories: the item -> categories table (int ``[num_items, C]``, -1 padded) when the model has
            categories, else None.
        vocabulary: the raw id of every user and item row (``PeriodSet.id_vocabulary()``, the pipeline's
            vocabularies): the served signatures take these ids. Table rows past the vocabulary (capacity) are
            dropped.
        warmup: write ``assets.extra/tf_serving_warmup_requests`` (requests with raw ids).

    Raises:
        FileExistsError: the version already exists (a served version is never overwritten).
        ValueError / TypeError: bad arguments, with what to do; ``RankerContractError`` (a TypeError): the
            model breaks the ranker contract (the message names what).
    """
    check_ranker(model)  # first: what follows reads the ranker's sizes
    model = trimmed(model, _check_vocabulary(model, vocabulary))
    if item_categories is not None and model.has_categories:
        item_categories = np.asarray(item_categories)[: model.num_items]
    table = _check_inputs(model, item_categories)
    if not name or os.sep in name or name.startswith("."):
        raise ValueError(f"model name must be a non-hidden single path component, got {name!r}")
    model_dir = os.path.join(os.path.abspath(base_dir), name)
    # one exporter per model base path; staging folders of killed exporters are swept under the lock
    with exclusive(model_dir, sweep=True):
        return _export_locked(model, table, vocabulary, model_dir, name, version, warmup)


def _export_locked(
    model, table, vocabulary: IdVocabulary, model_dir: str, name: str, version: int | None, warmup: bool
) -> str:
    version = next_version(model_dir) if version is None else int(version)
    if not 0 < version <= _MAX_VERSION:
        raise ValueError(f"version must be a positive int64, got {version}")
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} exists: versions are immutable, export a new version number")
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=model_dir)
    try:
        tmp = os.path.join(staging, "version")
        vocab_dir = os.path.join(staging, "vocab")  # tf.saved_model.save copies the files into <version>/assets/
        vocabulary.write(vocab_dir)
        _write_saved_model(model, table, vocabulary, vocab_dir, tmp)
        if warmup:
            write_warmup(tmp, warmup_logs(name, vocabulary))
        _write_export_info(model, table, vocabulary, os.path.join(tmp, "assets.extra", "asmg_export.json"))
        if os.path.exists(final):
            raise FileExistsError(f"{final} appeared while exporting: another exporter chose the same version")
        os.rename(tmp, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _serving_sizes(model: tf.keras.Model) -> dict[str, int]:
    """Table sizes of the serving copy: one out-of-vocabulary row more in every id space that has a table."""
    config = model.get_config()
    return {space: config[key] + 1 for space, key in SIZE_KEYS.items() if config[key]}


def _write_saved_model(
    model: tf.keras.Model, table: np.ndarray | None, vocabulary: IdVocabulary, vocab_dir: str, path: str
) -> None:
    """Trace the signatures around an OOV-extended copy of ``model`` and save them with tag ``serve``."""
    serving_model = from_description(describe(model), _serving_sizes(model))
    serving_model(serving_model.example_features())
    variables = named_trainable_variables(serving_model)
    shapes = {k: tuple(v.shape) for k, v in variables.items()}
    set_weights(serving_model, oov_extended_weights(get_weights(model), shapes, model.id_tables()))
    table_var = None
    if table is not None:
        padded = np.concatenate([table, np.full([1, table.shape[1]], -1, np.int32)])
        table_var = tf.Variable(padded, trainable=False, name="item_categories")
    lookups = {
        space: IdLookup(space, os.path.join(vocab_dir, f"{space}.txt"), n, vocabulary.integer(space))
        for space, n in vocabulary.sizes().items()
    }
    signatures = ServingFunctions(serving_model, lookups["users"], lookups["items"], table_var).signatures()
    # Track only the variables and the lookups (their tables and vocabulary assets): saving the Keras object itself
    # would add its own traced functions and metadata, which TF Serving never reads (and tfrs models are known to
    # trip on, recommenders#131).
    root = tf.Module()
    root.serving_variables = list(serving_model.variables) + ([table_var] if table_var is not None else [])
    root.id_lookups = list(lookups.values())
    tf.saved_model.save(root, path, signatures=signatures)
    set_method_names(path, {S.CLASSIFY_SIGNATURE: S.CLASSIFY_METHOD, S.REGRESS_SIGNATURE: S.REGRESS_METHOD})


def set_method_names(path: str, methods: dict[str, str]) -> None:
    """Set signature method names in ``path/saved_model.pb`` (TF2 saving always writes the predict method).

    TF Serving's Classify and Regress RPCs only accept signatures whose method name says so. The fingerprint
    (``fingerprint.pb``) is rewritten to match the edited graph.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    pb = os.path.join(path, "saved_model.pb")
    saved = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        saved.ParseFromString(f.read())
    for meta_graph in saved.meta_graphs:
        for name, method in methods.items():
            if name not in meta_graph.signature_def:
                raise KeyError(f"signature {name!r} not in {path}")
            meta_graph.signature_def[name].method_name = method
    with open(pb, "wb") as f:
        f.write(saved.SerializeToString())
    if os.path.exists(os.path.join(path, "fingerprint.pb")):
        from tensorflow.python.saved_model import fingerprinting_utils

        fingerprinting_utils.write_fingerprint(path)


def _write_export_info(model: tf.keras.Model, table: np.ndarray | None, vocabulary: IdVocabulary, path: str) -> None:
    info = {
        "format": "asmg-serving/2",
        "model": ranker_name(model),
        "model_class": type(model).__name__,
        "config": model.get_config(),
        "num_users": model.num_users,
        "num_items": model.num_items,
        "num_categories": model.num_categories,
        "categories_per_item": 0 if table is None else int(table.shape[1]),
        "signatures": list(S.SIGNATURES),
        "max_hist": S.MAX_HIST,
        "ids": {
            space: {"vocabulary": f"assets/{space}.txt", "size": n, "integer": vocabulary.integer(space)}
            for space, n in vocabulary.sizes().items()
        },
        "oov": "raw ids the vocabulary does not hold use an appended row n = mean of the n trained rows",
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(info, f, indent=1)


def model_from_weights(weights: dict[str, np.ndarray], description: dict) -> tf.keras.Model:
    """Rebuild a ranker from its description (``{"model": name, "config": ...}``, ``asmg_tf.models.registry``) and a
    ``name -> array`` mapping (e.g. an IU ``weights_XXX.npz``): table sizes come from the id tables' rows."""
    from asmg_tf.models.registry import id_tables_of

    sizes = {"categories": 0}
    for key, space in id_tables_of(description).items():
        if key not in weights:
            raise ValueError(f"the weights lack the id table {key!r} of model {description.get('model')!r}")
        sizes[space] = int(weights[key].shape[0])
    model = from_description(description, sizes)
    model(model.example_features())
    set_weights(model, weights)
    return model
