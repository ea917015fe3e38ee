"""The meta model-generator: reads a window of k models and generates a model of the same architecture.

Built from any base model's variables (``spec.model_spec``): each variable gets its own ``CoordinateGRU``
(ASMG-GRU) or ``ConvexCombination`` (ASMG-Linear), with the paper's weight sharing (docs/method.md §3.2, §3.7):
tables share one cell per column across rows, dense tensors get private weights per scalar.

Tensors used throughout:
    window: ``{key: [T, *shape]}`` the T input models stacked, oldest first (constants).
    state:  ``{key: [R, P, H]}`` initial hidden states (tables ``[N, d, H]``, dense ``[1, P, H]``), or None = zeros.
    rows:   ``{key: RowPlan}`` the table rows to generate (``row_gather.touched_rows``), or None = whole tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from asmg_tf.generator.row_gather import RowPlan, RowTable
from asmg_tf.generator.spec import TABLE, VariableSpec
from asmg_tf.layers.convex_combination import ConvexCombination
from asmg_tf.layers.coordinate_gru import CoordinateGRU, change_scales

GRU = "gru"
LINEAR = "linear"
#: ``window[key + SCALES]``: the variable's ``change_scales`` ``[T]``, computed once per window (``window_tensors``)
SCALES = "@scales"


class MetaGenerator(tf.Module):
    """One generator cell per base-model variable.

    Args:
        specs: the base model's variables (``model_spec(model)``).
        kind: ``"gru"`` (coordinate-wise GRU) or ``"linear"`` (convex combination).
        hidden_size: H of the GRU cells.
        window: k, required for ``"linear"`` (its logits have k entries); GRU cells take any sequence length.
        seed: initialisation seed (cell n uses ``seed + 10 n``).
        residual: GRU cells generate a correction to the newest input (``CoordinateGRU(residual=True)``).
        extrapolate: residual cells also learn a step along the newest change (``CoordinateGRU(extrapolate=True)``).
        normalize: residual cells read changes in units of the variable's RMS change (``CoordinateGRU(normalize=True)``);
            the scales come from the whole variable, also when only some table rows are generated.
    """

    def __init__(
        self,
        specs: Sequence[VariableSpec],
        kind: str = GRU,
        hidden_size: int = 4,
        window: int | None = None,
        seed: int = 0,
        residual: bool = False,
        extrapolate: bool = False,
        normalize: bool = False,
        name: str = "meta_generator",
    ):
        super().__init__(name=name)
        if kind not in (GRU, LINEAR):
            raise ValueError(f"generator kind must be {GRU!r} or {LINEAR!r}, got {kind!r}")
        if kind == LINEAR and not window:
            raise ValueError("the linear generator needs a fixed window k")
        if kind == LINEAR and (residual or extrapolate or normalize):
            raise ValueError("residual, extrapolate and normalize apply to the GRU generator only")
        self.specs = list(specs)
        self.kind = kind
        self.hidden_size = int(hidden_size)
        self.normalize = bool(normalize)
        cells = []
        for n, s in enumerate(self.specs):
            cell_name = "cell_" + s.key.replace("/", "__")
            if kind == GRU:
                cell = CoordinateGRU(
                    s.num_coords,
                    self.hidden_size,
                    seed=seed + 10 * n,
                    residual=residual,
                    extrapolate=extrapolate,
                    normalize=normalize,
                    name=cell_name,
                )
            else:
                cell = ConvexCombination(s.num_coords, window, name=cell_name)
            cell.build(None)
            cells.append(cell)
        self.cells = cells

    @property
    def has_state(self) -> bool:
        return self.kind == GRU

    def state_shapes(self) -> dict[str, list[int]]:
        """Hidden-state shape per variable: ``[N, d, H]`` for tables, ``[1, P, H]`` for dense tensors."""
        return {s.key: [s.num_rows, s.num_coords, self.hidden_size] for s in self.specs}

    @staticmethod
    def window_tensors(models: Sequence[Mapping[str, np.ndarray]], specs: Sequence[VariableSpec]) -> dict:
        """Stack T weight dicts (oldest first) into ``{key: [T, *shape]}`` float32 constants, plus each variable's
        ``change_scales`` under ``key + SCALES`` (whole variables, once per window rather than once per step)."""
        if not models:
            raise ValueError("the window holds no models")
        window = {s.key: tf.constant(np.stack([np.asarray(m[s.key], np.float32) for m in models])) for s in specs}
        window.update({s.key + SCALES: change_scales(s.to_rows(window[s.key])) for s in specs})
        return window

    @property
    def carry_step(self) -> int:
        """The window step after which the hidden state is carried to the next window: the step that reads the
        window's first model, or with ``normalize`` its first change (step 0 is context there)."""
        return 1 if self.normalize else 0

    def _inputs(self, s: VariableSpec, window, state, rows):
        """The cell's call arguments for variable ``s``: ``(x [T, R, P], initial state, {"scales": ...})``."""
        x = s.to_rows(window[s.key])  # [T, R, P]
        h0 = None if state is None else state[s.key]
        extra = {}
        if self.normalize:  # the whole variable's scales, also when only some rows are generated
            extra["scales"] = window[s.key + SCALES] if s.key + SCALES in window else change_scales(x)
        if rows is not None and s.kind == TABLE:
            x = tf.gather(x, rows[s.key].ids, axis=1)
            h0 = None if h0 is None else tf.gather(h0, rows[s.key].ids)
        return x, h0, extra

    def outputs(
        self,
        window: Mapping[str, tf.Tensor],
        state: Mapping[str, tf.Tensor] | None = None,
        rows: Mapping[str, RowPlan] | None = None,
        steps: Sequence[int] | None = None,
    ) -> dict[int, dict[str, object]]:
        """Generated models after the given 0-based steps (default: the last one): ``{step: {key: value}}``.

        A value is the variable's tensor, or a ``RowTable`` of the gathered rows when ``rows`` is given.
        The linear generator has one output, at the last step.
        """
        length = next(iter(window.values())).shape[0]
        steps = [length - 1] if steps is None else sorted({t % length for t in steps})
        if self.kind == LINEAR and steps != [length - 1]:
            raise ValueError(f"the linear generator only outputs the last step ({length - 1}), asked for {steps}")
        out: dict[int, dict[str, object]] = {t: {} for t in steps}
        for s, cell in zip(self.specs, self.cells):
            x, h0, extra = self._inputs(s, window, state, rows)
            if self.kind == GRU:
                last = max(steps) + 1
                extra = {k: v[:last] for k, v in extra.items()}
                ys, _ = cell(x[:last], h0, return_states=False, **extra)
            else:
                ys = cell(x)[None]
            for t in steps:
                y = ys[t] if self.kind == GRU else ys[0]
                out[t][s.key] = (
                    RowTable(s.key, rows[s.key], y) if rows is not None and s.kind == TABLE else s.from_rows(y)
                )
        return out

    def generate(self, window: Mapping[str, tf.Tensor], state: Mapping[str, tf.Tensor] | None = None) -> dict:
        """The whole generated model after the last step, as ``{key: np.ndarray}`` (for ``set_weights``)."""
        (values,) = self.outputs(window, state).values()
        return {k: v.numpy() for k, v in values.items()}

    def state_after_first_step(
        self, window: Mapping[str, tf.Tensor], state: Mapping[str, tf.Tensor] | None = None
    ) -> dict[str, tf.Tensor]:
        """Hidden states of every row after step ``carry_step`` (the next window's initial state)."""
        if self.kind != GRU:
            raise ValueError("only the GRU generator has a hidden state")
        last = self.carry_step + 1
        out = {}
        for s, cell in zip(self.specs, self.cells):
            x, h0, extra = self._inputs(s, window, state, None)
            _, hs = cell(x[:last], h0, **{k: v[:last] for k, v in extra.items()})
            out[s.key] = hs[-1]
        return out
