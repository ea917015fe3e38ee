"""Training and evaluation primitives shared by every update method."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from asmg_tf.data.periods import PeriodData
from asmg_tf.models.features import make_dataset

EVAL_BATCH = 8192


def make_optimizer(learning_rate: float) -> tf.keras.optimizers.Optimizer:
    """Adam as in the paper's TF1 code: legacy Keras Adam runs TF1's ``ApplyAdam`` kernels (epsilon on the
    uncorrected sqrt(v), bias correction folded into the step, every row's slots decayed on sparse updates)."""
    return tf.keras.optimizers.legacy.Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def compile_model(model: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer) -> None:
    model.compile(optimizer=optimizer)


def ensure_built(model: tf.keras.Model) -> None:
    """Create the model's variables (and the optimizer's slots stay lazy)."""
    if not model.built:
        model(model.example_features())


def period_seed(seed: int, period: int) -> int:
    """The shuffle seed of the one-epoch update on ``period`` (IU, the pipeline's Trainer and warm-started
    baselines use the same rule, so their epochs see the same order)."""
    return seed * 1000 + period


def train_epoch(
    model: tf.keras.Model,
    data: PeriodData,
    item_categories: np.ndarray | None,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int | None = None,
) -> float:
    """One epoch over ``data``; returns the loss of the last batch (what ``tfrs.Model.train_step`` reports)."""
    ds = make_dataset(data, item_categories, batch_size, shuffle=shuffle, seed=seed)
    history = model.fit(ds, epochs=1, verbose=0)
    return float(history.history["loss"][-1])


def predict_logits(model: tf.keras.Model, data: PeriodData, item_categories: np.ndarray | None) -> np.ndarray:
    """Logits for every sample of ``data`` (in order)."""
    if len(data) == 0:
        return np.zeros(0, np.float32)
    return np.asarray(model.predict(make_dataset(data, item_categories, EVAL_BATCH), verbose=0)).reshape(-1)


def auc_logloss(labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """Global ROC-AUC (scikit-learn) and mean sigmoid cross-entropy, as the paper reports them (docs/method.md §1.4)."""
    logits = logits.astype(np.float64)
    labels = labels.astype(np.float64)
    # softplus(z) - y z  is the stable form of -y log s(z) - (1-y) log(1-s(z))
    logloss = float(np.mean(np.logaddexp(0.0, logits) - labels * logits))
    auc = float(roc_auc_score(labels, logits)) if 0 < labels.sum() < labels.size else float("nan")
    return {"auc": auc, "logloss": logloss}


def evaluate(model: tf.keras.Model, data: PeriodData, item_categories: np.ndarray | None) -> dict[str, float]:
    return auc_logloss(data.label, predict_logits(model, data, item_categories))
