"""ASMG+ (beyond the paper): a generator that starts as IU, learns corrections, and never serves worse than IU.

Two changes to ASMG-GRUmulti (``asmg_tf.updaters.asmg``), each switchable so its effect can be measured:

* **residual generator** (``residual=True``): every coordinate-wise GRU outputs ``x_T + h_T w + b`` with ``w, b``
  initialised to zero (``CoordinateGRU(residual=True)``). The untrained generator reproduces the newest IU model
  exactly, so it is useful from the first update period; meta-training then learns a per-coordinate correction
  from each coordinate's recent trajectory (e.g. to extrapolate a drift or undo a noisy update). The paper's
  generator has no such path and starts from noise (asmg-method.md §3.3, §8.3).
* **fallback** (``fallback="auc"`` or ``"logloss"``, ``fallback_window=m``): after a served model has been
  scored on period i+1 (test-then-train, so before the generator learns from it), the generated model and the IU
  model of the same iteration are both scored on that period. The next iteration serves the generated model only
  if its mean advantage over the last m such comparisons is >= 0, else the IU model. Only past periods are used.

Every other setting (k, H, lr, loss weights, carry-over, row gathering, checkpointed state) is ASMG-GRUmulti's;
``epochs`` runs more than one meta-epoch per iteration. Options are chosen on the warm-up iterations only
(``benchmarks/select_asmg_plus.py``).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import tensorflow as tf

from asmg_tf.updaters.asmg import ASMG, OPTIONS, ASMGConfig

FALLBACKS = ("none", "auc", "logloss")


@dataclasses.dataclass(frozen=True)
class PlusConfig(ASMGConfig):
    residual: bool = True
    fallback: str = "auc"
    fallback_window: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {self.fallback!r}")
        if self.fallback_window < 1:
            raise ValueError(f"fallback_window must be >= 1, got {self.fallback_window}")


#: method name -> settings; every PlusConfig field may be overridden with ``--option asmg_plus.<field>=...``
PLUS_VARIANTS: dict[str, dict] = {"asmg_plus": {}}
PLUS_OPTIONS = OPTIONS + ("residual", "carry_state", "fallback", "fallback_window")


def advantage(generated: dict[str, float], iu: dict[str, float], metric: str) -> float:
    """How much better the generated model scored than IU on one period (higher AUC, lower LogLoss is better)."""
    if metric == "auc":
        return generated["auc"] - iu["auc"]
    return iu["logloss"] - generated["logloss"]


class ASMGPlus(ASMG):
    """ASMG-GRUmulti with a residual generator and an IU fallback (see the module docstring)."""

    variants = PLUS_VARIANTS
    allowed_options = PLUS_OPTIONS

    def __init__(self, ctx, variant: str = "asmg_plus", **options):
        super().__init__(ctx, variant, **options)
        #: str(i) -> {"generated": metrics, "iu": metrics} on period i+1, recorded before meta-training on it
        self.comparisons: dict[str, dict] = {}
        #: str(i) -> "generated" or "iu": what serve(i) returned
        self.served: dict[str, str] = {}
        self._iu_model: tf.keras.Model | None = None

    def _make_config(self, settings: dict) -> PlusConfig:
        return PlusConfig(**settings)

    def serves_generated(self, i: int) -> bool:
        """The fallback rule for iteration i: the generator's mean advantage over IU on the last m scored periods
        before i+1 must be >= 0 (no comparison yet: serve the generated model)."""
        if self.config.fallback == "none":
            return True
        past = [
            self.comparisons[str(j)] for j in range(i - self.config.fallback_window, i) if str(j) in self.comparisons
        ]
        if not past:
            return True
        return float(np.mean([advantage(c["generated"], c["iu"], self.config.fallback) for c in past])) >= 0.0

    def _iu(self, i: int) -> tf.keras.Model:
        self._iu_model = self.ctx.iu_model(i, self._iu_model)
        return self._iu_model

    def serve(self, i: int) -> tf.keras.Model:
        generated = super().serve(i)  # always generate: the comparison in observe(i) needs it
        use_generated = self.serves_generated(i)
        self.served[str(i)] = "generated" if use_generated else "iu"
        return generated if use_generated else self._iu(i)

    def observe(self, i: int) -> None:
        if self.config.fallback != "none":
            if self._window is None or self._window[0] != i:
                ASMG.serve(self, i)  # resumed between serve and observe: regenerate
            self.comparisons[str(i)] = {
                "generated": self.ctx.evaluate(self._serving, i + 1),
                "iu": self.ctx.evaluate(self._iu(i), i + 1),
            }
        super().observe(i)

    def extra_state(self) -> dict:
        return {**super().extra_state(), "comparisons": self.comparisons, "served": self.served}

    def restore(self, extra_state: dict) -> None:
        super().restore(extra_state)
        self.comparisons = dict(extra_state.get("comparisons", {}))
        self.served = dict(extra_state.get("served", {}))


#: registry entries for ``asmg_tf.updaters.METHODS``
ASMG_PLUS_METHODS = {name: functools.partial(ASMGPlus, variant=name) for name in PLUS_VARIANTS}
