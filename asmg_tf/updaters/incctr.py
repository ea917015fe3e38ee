"""IncCTR: incremental update with knowledge distillation from the previous model (docs/method.md §4.4).

Before training on D_i, the previous model Θ_{i-1} scores D_i: ŷ = sigmoid(logit_{i-1}) (temperature 1). Then one
shuffled epoch from Θ_{i-1} minimises

    L = (1 - λ) BCE(z, y) + λ BCE(z, ŷ)   with BCE(z, t) = softplus(z) - t z.

BCE is linear in its target, so L = BCE(z, (1 - λ) y + λ ŷ) exactly, gradients included: the method trains the
ordinary model on the mixed soft target.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from asmg_tf.training.loop import predict_logits
from asmg_tf.updaters.warm_start import WarmStartMethod


def distillation_targets(labels: np.ndarray, teacher_logits: np.ndarray, lam: float) -> np.ndarray:
    """(1 - λ) y + λ sigmoid(teacher logit), as float32."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must be in [0, 1], got {lam}")
    soft = 1.0 / (1.0 + np.exp(-teacher_logits.astype(np.float64)))
    return ((1.0 - lam) * labels.astype(np.float64) + lam * soft).astype(np.float32)


class IncCTR(WarmStartMethod):
    """Options: ``lam`` (λ, per data kind), ``lr`` (default: the base rate)."""

    family = "incctr"

    def update(self, i: int) -> None:
        data = self.ctx.period(i)
        teacher = predict_logits(self.model, data, self.ctx.item_categories)
        soft = dataclasses.replace(data, label=distillation_targets(data.label, teacher, self.config["lam"]))
        self.ctx.train_epoch(self.model, soft, shuffle=True, seed=self.seed(i))
