"""Small models and reference scores shared by the serving tests (tiny tables keep them fast)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

import serving  # noqa: F401  (legacy Keras first)
from asmg_tf.data.vocab import IdVocabulary
from asmg_tf.models import EmbeddingMLPRanker
from asmg_tf.models.weights import get_weights, set_weights

NUM_USERS, NUM_ITEMS, NUM_CATEGORIES = 7, 11, 4
#: raw ids of the tiny tables: integer users that are *not* their rows (raw "3" is row 1, raw "0" row 2, and row 3 is
#: raw "7"), string items like Online Retail's stock codes
VOCAB = IdVocabulary(
    ["10", "3", "0", "7", "1", "42", "5"],
    ["85123A", "71053", "84406B", "84029G", "22752", "21730", "22633", "22632", "84879", "22745", "POST1"],
)


def raw_users(rows) -> list[str]:
    return [VOCAB.users[r] for r in rows]


def raw_items(rows) -> list[str]:
    return [VOCAB.items[r] for r in rows]


def raw_rows(rows) -> list[dict]:
    """``[(user row, item row, [hist rows])]`` -> client rows of raw ids."""
    return [{"user": VOCAB.users[u], "item": VOCAB.items[i], "hist": raw_items(h)} for u, i, h in rows]


def tiny_model(categories: bool = True, seed: int = 1) -> tuple[EmbeddingMLPRanker, np.ndarray | None]:
    """A built ranker with random weights, and its item -> categories table (2 per item, -1 padded)."""
    tf.keras.utils.set_random_seed(seed)
    model = EmbeddingMLPRanker(NUM_USERS, NUM_ITEMS, NUM_CATEGORIES if categories else 0, embedding_dim=4)
    model(model.example_features())
    table = None
    if categories:
        table = np.random.RandomState(seed).randint(-1, NUM_CATEGORIES, size=(NUM_ITEMS, 2)).astype(np.int32)
        table[:, 0] = np.abs(table[:, 0])  # at least one category per item
    return model, table


def pad(hist_rows) -> tuple[np.ndarray, np.ndarray]:
    width = max([1, *(len(h) for h in hist_rows)])
    out = np.zeros([len(hist_rows), width], np.int32)
    for i, h in enumerate(hist_rows):
        out[i, : len(h)] = h
    return out, np.array([len(h) for h in hist_rows], np.int32)


def keras_probs(model: EmbeddingMLPRanker, table, user, item, hist_rows) -> np.ndarray:
    """Click probabilities from the Keras model itself (in-vocabulary ids only)."""
    hist, hist_len = pad(hist_rows)
    features = {
        "user": np.asarray(user, np.int32),
        "item": np.asarray(item, np.int32),
        "hist": hist,
        "hist_len": hist_len,
    }
    if table is not None:
        features["item_cats"] = table[np.asarray(item)]
        features["hist_cats"] = table[hist]
    return tf.sigmoid(model({k: tf.constant(v) for k, v in features.items()})).numpy()


def oov_reference(model: EmbeddingMLPRanker, table):
    """A Keras model whose tables have the documented OOV row appended (mean of the trained rows), and its table.

    Scores of the export for out-of-vocabulary ids must equal this model's scores for id ``n``.
    """
    config = model.get_config()
    config.update(num_users=model.num_users + 1, num_items=model.num_items + 1)
    if model.num_categories:
        config["num_categories"] = model.num_categories + 1
    extended = EmbeddingMLPRanker.from_config({**config, "name": "oov_reference"})
    extended(extended.example_features())
    weights = {}
    for key, value in get_weights(model).items():
        weights[key] = np.concatenate([value, value.mean(0, keepdims=True)]) if key.endswith("embeddings") else value
    set_weights(extended, weights)
    ext_table = None if table is None else np.concatenate([table, np.full([1, table.shape[1]], -1, np.int32)])
    return extended, ext_table


def perturbed(model: EmbeddingMLPRanker, seed: int) -> EmbeddingMLPRanker:
    """The same model with different weights (a 'next version')."""
    rng = np.random.RandomState(seed)
    set_weights(model, {k: v + rng.normal(0, 0.5, v.shape).astype(v.dtype) for k, v in get_weights(model).items()})
    return model


@contextlib.contextmanager
def asmg_serve(config_file: str, rest: bool = True, timeout_s: float = 180.0):
    """``asmg serve`` as a process serving ``config_file`` on loopback, ephemeral ports: yields its ready line's
    ``(grpc target, rest target or None)``; stopped with SIGTERM afterwards, which must end it cleanly."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "asmg_cli", "serve", "--model-config-file", config_file, "--port", "0",
         "--rest-api-port", "0" if rest else "-1", "--file-system-poll-wait-seconds", "0"],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line, deadline = "", time.monotonic() + timeout_s
        while "ready" not in line and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
        assert "ready grpc=127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        rest_target = line.split("rest=http://")[1].split()[0] if rest else None
        yield line.split("grpc=")[1].split()[0], rest_target
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
