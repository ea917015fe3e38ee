"""The blessing rule: push the generated model only if the evidence so far says it is not worse than IU.

The only honest evidence before serving span t+1 is test-then-train: span s (s <= t) was scored by the
TestThenTrain component before anything trained on it, with the generated and the IU model of span s-1. With
d_s = metric(generated_{s-1}, span s) - metric(IU_{s-1}, span s) (AUC, or minus the LogLoss: higher is better), the
generated model of span t is blessed when

    mean(d_s over the last m scored spans s <= t)  >=  -threshold

and the generator has finished its warm-up (the paper's protocol: it serves from ``test_start`` on). Before the first
comparison there is no evidence, so nothing is blessed: the IU model is pushed. This module is TFX-free; the
``BlessingGate`` component (``pipeline.components.blessing``) applies it once per span and records every decision.
"""

from __future__ import annotations

import dataclasses
import math

METRICS = ("auc", "logloss")
BLESSED, NOT_BLESSED = "BLESSED", "NOT_BLESSED"  # TFX's marker files of a ModelBlessing artifact


@dataclasses.dataclass(frozen=True)
class GateConfig:
    """``window``: m, the scored spans averaged; ``threshold``: how much worse than IU (in metric points, e.g.
    0.001 AUC) still counts as a tie; ``metric``: ``auc`` or ``logloss``."""

    window: int = 1
    threshold: float = 0.0
    metric: str = "auc"

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"the blessing window must be >= 1 scored span, got {self.window}")
        if not math.isfinite(self.threshold) or self.threshold < 0:
            raise ValueError(f"the blessing threshold must be a finite number >= 0, got {self.threshold}")
        if self.metric not in METRICS:
            raise ValueError(f"the blessing metric must be one of {METRICS}, got {self.metric!r}")


def comparison(evaluation: dict) -> dict | None:
    """The generated-vs-IU comparison of one TestThenTrain result (``metrics.json``), or None when it scored no
    generated model (before the generator's first model, or the first update span)."""
    if not evaluation.get("generated") or not evaluation.get("iu"):
        return None
    return {"generated": dict(evaluation["generated"]), "iu": dict(evaluation["iu"])}


def _score(metrics: dict, metric: str) -> float:
    return metrics["auc"] if metric == "auc" else -metrics["logloss"]


def decide(comparisons: dict[int, dict], span: int, config: GateConfig, *, warmed_up: bool) -> dict:
    """The decision for the model generated at ``span``, from the comparisons of scored spans ``<= span`` only.

    Args:
        comparisons: scored span -> ``{"generated": {"auc", "logloss"}, "iu": {...}}`` (keys may be str from JSON).
        span: the span whose generated model may be pushed (it serves span + 1).
        config: window, threshold and metric.
        warmed_up: whether the generator has finished its warm-up rounds (and generated a model at all).

    Returns ``{"blessed", "reason", "spans", "generated", "iu", "difference"}``: the mean metrics over the spans used
    (None without evidence) and their difference generated - IU in ``config.metric`` (LogLoss: IU - generated).
    """
    scored = sorted(int(s) for s in comparisons if int(s) <= span)  # never a span not yet scored
    used = scored[-config.window :]
    past = [comparisons.get(s, comparisons.get(str(s))) for s in used]
    means = {
        kind: {m: sum(p[kind][m] for p in past) / len(past) for m in METRICS} if past else None
        for kind in ("generated", "iu")
    }
    difference = None
    if past:
        difference = _score(means["generated"], config.metric) - _score(means["iu"], config.metric)
    out = {"spans": used, "generated": means["generated"], "iu": means["iu"], "difference": difference}
    if not warmed_up:
        return {**out, "blessed": False, "reason": "warm-up: the generator is not deployed yet"}
    if difference is None:
        return {**out, "blessed": False, "reason": "no evidence yet: no generated model has been scored"}
    blessed = difference >= -config.threshold
    verdict = "not worse than" if difference >= 0 else "within the threshold of" if blessed else "worse than"
    what = f"{config.metric} {'+' if difference >= 0 else ''}{difference:.4f} over span(s) {used[0]}-{used[-1]}"
    return {**out, "blessed": blessed, "reason": f"generated {verdict} IU ({what})"}
