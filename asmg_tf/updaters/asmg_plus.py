"""ASMG+ (beyond the paper): a generator that starts as IU, learns corrections, and never serves worse than IU.

Changes to ASMG-GRUmulti (``asmg_tf.updaters.asmg``), each switchable so its effect can be measured:

* **residual generator** (``residual=True``): every coordinate-wise GRU outputs ``x_T + h_T w + b`` with ``w, b``
  initialised to zero (``CoordinateGRU(residual=True)``). The untrained generator reproduces the newest IU model
  exactly, so it is useful from the first update period; meta-training then learns a per-coordinate correction
  from each coordinate's recent trajectory. The paper's generator has no such path and starts from noise
  (docs/method.md §3.3, §8.3).
* **fallback** (``fallback="auc"`` or ``"logloss"``, ``fallback_window=m``): after a served model has been
  scored on period i+1 (test-then-train, so before the generator learns from it), the generated model and the IU
  model of the same iteration are both scored on that period. The next iteration serves the generated model only
  if its mean metric over the last m such comparisons is at least IU's, else the IU model. Only past periods are
  used.
* **validated extrapolation** (``extrapolation_steps=[1, 2, 4]``, needs a fallback metric): more candidates in the
  same comparison, the generated model moved further along the newest IU update, Θ*_i + β (Θ_i - Θ_{i-1}) for
  each β. The rule serves whichever candidate (generated, generated + β step, IU) had the best mean metric over
  the last m scored periods. Incremental updates that under-train each period (a few optimiser steps on a small
  period) leave the model short of where the data is taking it; this measures how far to go on the reported
  metric (AUC), which meta-training on the log loss does not optimise.
* ``extrapolate=True`` instead learns one such step per variable by meta-gradient (``CoordinateGRU``).
* **input normalisation** (``normalize=True``): the GRU reads each coordinate's changes between the window's models
  in units of its variable's RMS change and outputs its correction in those units (``CoordinateGRU(normalize=True)``;
  the window's first model is context, the carried state is the one after its first change). On raw values one
  Adam step moves every coordinate's correction by about ``lr`` whatever the variable's scale; in these units a
  correction is a fraction of a typical period's change, so ``lr`` means the same for every variable (it wants a
  larger ``lr``: 0.03 by default).

Defaults: residual, AUC fallback over 1 period, normalize with lr 0.03, and ASMG-GRUmulti's k = 3, H = 4, linear
loss weights, carried state: the candidate with the best worst-case warm-up gain over IU on the four datasets among
those with a bounded cost per period (``benchmarks/selection_table.py``; docs/results/asmg_plus.md). Every other
setting (row gathering, checkpointed state) is ASMG-GRUmulti's; ``epochs`` runs more than one meta-epoch per
iteration. Per-dataset options are chosen on the warm-up iterations only (``benchmarks/select_asmg_plus.py``).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import tensorflow as tf

from asmg_tf.generator.streaming import source_rows, variable_rows, write_rows
from asmg_tf.updaters.asmg import ASMG, OPTIONS, ASMGConfig

FALLBACKS = ("none", "auc", "logloss")
GENERATED, IU = "generated", "iu"


@dataclasses.dataclass(frozen=True)
class PlusConfig(ASMGConfig):
    lr: float = 3e-2
    normalize: bool = True
    residual: bool = True
    fallback: str = "auc"
    fallback_window: int = 1
    extrapolation_steps: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {self.fallback!r}")
        if self.fallback_window < 1:
            raise ValueError(f"fallback_window must be >= 1, got {self.fallback_window}")
        object.__setattr__(self, "extrapolation_steps", tuple(float(b) for b in self.extrapolation_steps))
        if self.extrapolation_steps and self.fallback == "none":
            raise ValueError("extrapolation_steps are chosen by the fallback's metric: set fallback to auc or logloss")
        if self.extrapolation_steps and not (isinstance(self.k, int) and self.k >= 2):
            raise ValueError(
                "extrapolation_steps step along Θ_i - Θ_{i-1}, so the window needs both: an integer k >= 2"
            )
        if any(b == 0 for b in self.extrapolation_steps):
            raise ValueError("extrapolation_steps: 0 is the generated model itself, always a candidate")


#: method name -> settings; every PlusConfig field may be overridden with ``--option asmg_plus.<field>=...``
PLUS_VARIANTS: dict[str, dict] = {"asmg_plus": {}}
PLUS_OPTIONS = OPTIONS + (
    "residual",
    "extrapolate",
    "normalize",
    "carry_state",
    "fallback",
    "fallback_window",
    "extrapolation_steps",
)


def score(metrics: dict[str, float], metric: str) -> float:
    """Higher is better: the AUC, or minus the LogLoss."""
    return metrics["auc"] if metric == "auc" else -metrics["logloss"]


def step_name(beta: float) -> str:
    return f"{GENERATED}+{beta:g}"


class ASMGPlus(ASMG):
    """ASMG-GRUmulti with a residual generator, validated extrapolation and an IU fallback (module docstring)."""

    variants = PLUS_VARIANTS
    allowed_options = PLUS_OPTIONS

    def __init__(self, ctx, variant: str = "asmg_plus", **options):
        super().__init__(ctx, variant, **options)
        #: str(i) -> {candidate: metrics} on period i+1, recorded before meta-training on it
        self.comparisons: dict[str, dict] = {}
        #: str(i) -> the candidate serve(i) returned ("generated", "generated+β" or "iu")
        self.served: dict[str, str] = {}
        self._iu_model: tf.keras.Model | None = None
        self._stepped_model: tf.keras.Model | None = None

    def _make_config(self, settings: dict) -> PlusConfig:
        return PlusConfig(**settings)

    # -- the serving rule -------------------------------------------------------------------------------------------
    def candidates(self) -> list[str]:
        """What the rule chooses from, in tie-break order: generated, generated + β steps, IU."""
        return [GENERATED] + [step_name(b) for b in self.config.extrapolation_steps] + [IU]

    def choice(self, i: int) -> str:
        """The candidate served in iteration i: the best mean metric over the last m scored periods before i+1
        (ties: the earlier candidate; without a fallback or before the first comparison: the generated model)."""
        if self.config.fallback == "none":
            return GENERATED
        window = range(i - self.config.fallback_window, i)
        past = [self.comparisons[str(j)] for j in window if str(j) in self.comparisons]
        if not past:
            return GENERATED
        names = self.candidates()
        means = {c: float(np.mean([score(p[c], self.config.fallback) for p in past])) for c in names}
        return max(names, key=lambda c: (means[c], -names.index(c)))

    # -- candidates -------------------------------------------------------------------------------------------------
    def _iu(self, i: int) -> tf.keras.Model:
        if self._iu_model is None:
            self._iu_model, _ = self.ctx.new_trainable()
        write_rows(self._iu_model, self._state.generator.specs, source_rows(self.ctx.iu_rows(i)), self.chunk_rows)
        return self._iu_model

    def _stepped(self, i: int, beta: float) -> tf.keras.Model:
        """The generated model (held by ``self._serving``) moved by β times the newest IU update Θ_i - Θ_{i-1}
        (chunk by chunk of table rows, as the generated model is written)."""
        if self._stepped_model is None:
            self._stepped_model, _ = self.ctx.new_trainable()
        new, old = source_rows(self.ctx.iu_rows(i)), source_rows(self.ctx.iu_rows(i - 1))
        generated = variable_rows(self._serving)

        def read(spec, start, stop):
            return generated(spec, start, stop) + beta * (new(spec, start, stop) - old(spec, start, stop))

        write_rows(self._stepped_model, self._state.generator.specs, read, self.chunk_rows)
        return self._stepped_model

    def _candidate(self, i: int, name: str) -> tf.keras.Model:
        if name == GENERATED:
            return self._serving
        if name == IU:
            return self._iu(i)
        betas = {step_name(b): b for b in self.config.extrapolation_steps}
        return self._stepped(i, betas[name])

    # -- protocol ---------------------------------------------------------------------------------------------------
    def serve(self, i: int) -> tf.keras.Model:
        super().serve(i)  # always generate: the comparison in observe(i) needs it
        choice = self.choice(i)
        self.served[str(i)] = choice
        return self._candidate(i, choice)

    def observe(self, i: int) -> None:
        if self.config.fallback != "none":
            if self._generated != i:
                ASMG.serve(self, i)  # resumed between serve and observe: regenerate
            self.comparisons[str(i)] = {c: self.ctx.evaluate(self._candidate(i, c), i + 1) for c in self.candidates()}
        super().observe(i)

    # -- state ------------------------------------------------------------------------------------------------------
    def extra_state(self) -> dict:
        return {**super().extra_state(), "comparisons": self.comparisons, "served": self.served}

    def restore(self, extra_state: dict) -> None:
        super().restore(extra_state)
        self.comparisons = dict(extra_state.get("comparisons", {}))
        self.served = dict(extra_state.get("served", {}))


#: registry entries for ``asmg_tf.updaters.METHODS``
ASMG_PLUS_METHODS = {name: functools.partial(ASMGPlus, variant=name) for name in PLUS_VARIANTS}
