"""BU-w, batch update on a sliding window (docs/method.md §4.2).

Θ_i = one shuffled epoch over D_{i-w+1} ∪ … ∪ D_i, starting from Θ_{i-1} (the previous BU model, Adam state
included; the pretrained model at the first iteration). Early windows reach into the pretraining periods (i = 11,
w = 7 trains on periods 5-11); ``window="full"`` trains on periods 1..i.
"""

from __future__ import annotations

import functools

from asmg_tf.updaters.warm_start import WarmStartMethod

FULL = "full"


class BatchUpdate(WarmStartMethod):
    """Options: ``window`` (int >= 1 or "full"), ``lr`` (default: the base rate)."""

    family = "bu"

    def __init__(self, ctx, **options):
        super().__init__(ctx, **options)
        w = self.config["window"]
        if not (w == FULL or (isinstance(w, int) and not isinstance(w, bool) and w >= 1)):
            raise ValueError(f"bu: window must be a positive int or {FULL!r}, got {w!r}")

    def window_periods(self, i: int) -> range:
        """The periods trained on in iteration i, oldest first."""
        w = self.config["window"]
        return range(1 if w == FULL else max(1, i - w + 1), i + 1)

    def carried_inputs(self, i: int) -> tuple[list[int], list[int]]:
        """The next window's periods that exist at i (all of them for ``window="full"``)."""
        return [], [t for t in self.window_periods(i + 1) if t <= i]

    def update(self, i: int) -> None:
        periods = self.window_periods(i)
        data = self.ctx.periods_range(periods[0], periods[-1])
        self.ctx.train_epoch(self.model, data, shuffle=True, seed=self.seed(i))


def bu(window: int | str) -> functools.partial:
    """Registry factory of BU with a fixed default window: ``METHODS["bu3"] = bu(3)``."""
    return functools.partial(BatchUpdate, window=window)
