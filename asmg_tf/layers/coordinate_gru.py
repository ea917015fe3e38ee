"""A bank of independent scalar GRUs, one per coordinate group, run over a short sequence (ASMG's generator)."""

from __future__ import annotations

import tensorflow as tf

from asmg_tf.layers.registry import register


@register
class CoordinateGRU(tf.keras.layers.Layer):
    """P independent GRUs with scalar input and a linear scalar head, shared by R rows (docs/method.md §3.2-§3.3).

    For coordinate p, row r and step t (x a scalar, h in R^H, no gate biases):

        z  = sigmoid(x u_z[p] + h W_z[p])
        r  = sigmoid(x u_r[p] + h W_r[p])
        g  = tanh(x u_g[p] + (r * h) W_g[p])
        h' = (1 - z) * h + z * g
        y  = h' w_hy[p] + b_y[p]

    Weight shapes are the paper's: u_* [P, 1, H], W_* [P, H, H], w_hy [P, H, 1], b_y [P, 1, 1], all Glorot-uniform
    on those 3-D shapes, so P enters the fan: limits sqrt(6 / (P (1 + H))), sqrt(3 / (P H)), sqrt(6 / (P (H + 1)))
    and sqrt(3 / P).

    ``residual=True`` (not in the paper; ``asmg_plus``) generates a correction to the step's input instead of the
    value itself, y = x + h' w_hy + b_y, with w_hy and b_y initialised to zero: an untrained cell reproduces its
    newest input, so the generated model starts as the latest incremental model and meta-training moves it away
    from there only where that lowers the loss.

    ``extrapolate=True`` (with ``residual``) adds a learned step along the sequence's newest change,
    y_t = x_t + scale * alpha * (x_t - x_{t-1}) + h' w_hy + b_y (t >= 1), with one scalar alpha per layer (per
    model variable), initialised to zero. When incremental updates under-train each period, moving further along
    the update direction is the first thing a generator should be able to do; a per-coordinate GRU fed raw values
    learns it slowly. ``scale`` (default 10) preconditions alpha so that Adam moves it ~``scale * lr`` per step.

    ``normalize=True`` (with ``residual``) is per-coordinate input normalisation: the cell reads each step's change
    d_t = x_t - x_{t-1} in units of s_t, the root-mean-square change of the whole variable at that step
    (``change_scales``), and its correction is in the same units, y_t = x_t + s_t (h'_t w_hy + b_y). Raw values
    differ in scale between variables and drift over time, changes in units of s_t do not, so one cell's weights
    mean the same at every step; a coordinate that did not move reads zeros, and a variable that did not move
    (s_t = 0) is passed through unchanged. The first model of the sequence is context only (it has no change):
    step 0 leaves the state as it was and outputs x_0. s_t depends only on steps <= t (no look-ahead).

    Every row r has its own hidden state but uses coordinate p's weights: a dense tensor of P
    scalars is one row (no sharing); an embedding table [N, d] is N rows of P = d coordinates (one GRU per column,
    shared by all rows). All coordinates and rows run as batched matmuls; only the T steps are a loop.

    Args:
        num_coords: P.
        hidden_size: H (4 in the paper).
        seed: base seed of the six initializers (weight i uses ``seed + i``); None for unseeded.
        residual: output ``x + head(h)`` with a zero-initialised head (see above).
        extrapolate: add ``scale * alpha * (x_t - x_{t-1})`` (needs ``residual``; see above).
        extrapolation_scale: ``scale``.
        normalize: read changes in units of the variable's RMS change (needs ``residual``; see above).

    Call args:
        inputs: ``[T, R, P]`` sequence, oldest step first.
        initial_state: ``[R, P, H]``; zeros when None. Treated as a constant (no gradient flows into it).
        return_states: False skips stacking the per-step states (returned as None).
        scales: ``[T]`` the s_t of ``normalize``; computed from ``inputs`` when None. Pass the whole variable's
            scales when ``inputs`` holds only some of its rows.

    Returns:
        ``(outputs, states)``: ``outputs`` ``[T, R, P]`` holds the head after each step, ``states``
        ``[T, R, P, H]`` the hidden state after each step.

    Example:
        >>> gru = CoordinateGRU(num_coords=8, hidden_size=4)
        >>> y, h = gru(tf.random.normal([3, 100, 8]))  # 3 models, 100 rows of an 8-column table
        >>> y.shape, h.shape  # ([3, 100, 8], [3, 100, 8, 4])
    """

    def __init__(
        self,
        num_coords: int,
        hidden_size: int = 4,
        seed: int | None = None,
        residual: bool = False,
        extrapolate: bool = False,
        extrapolation_scale: float = 10.0,
        normalize: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_coords) <= 0 or int(hidden_size) <= 0:
            raise ValueError(f"need num_coords > 0 and hidden_size > 0, got {num_coords}, {hidden_size}")
        self.num_coords = int(num_coords)
        self.hidden_size = int(hidden_size)
        self.seed = None if seed is None else int(seed)
        self.residual = bool(residual)
        self.extrapolate = bool(extrapolate)
        self.extrapolation_scale = float(extrapolation_scale)
        self.normalize = bool(normalize)
        for name in ("extrapolate", "normalize"):
            if getattr(self, name) and not self.residual:
                raise ValueError(f"{name}=True needs residual=True (it corrects the newest input)")

    def _init(self, i: int, name: str) -> tf.keras.initializers.Initializer:
        if self.residual and name in ("w_hy", "b_y"):
            return tf.keras.initializers.Zeros()  # start as the identity on the newest input
        return tf.keras.initializers.GlorotUniform(seed=None if self.seed is None else self.seed + i)

    def build(self, input_shape=None) -> None:
        p, h = self.num_coords, self.hidden_size
        shapes = {
            "u_z": [p, 1, h], "u_r": [p, 1, h], "u_g": [p, 1, h],
            "w_z": [p, h, h], "w_r": [p, h, h], "w_g": [p, h, h],
            "w_hy": [p, h, 1], "b_y": [p, 1, 1],
        }  # fmt: skip
        for i, (name, shape) in enumerate(shapes.items()):
            setattr(
                self, name, self.add_weight(name=name, shape=shape, initializer=self._init(i, name), trainable=True)
            )
        if self.extrapolate:
            self.alpha = self.add_weight(name="alpha", shape=[], initializer="zeros", trainable=True)
        super().build(input_shape)

    def step(self, x: tf.Tensor, h: tf.Tensor) -> tf.Tensor:
        """One step in coordinate-major layout: x ``[P, R]``, h ``[P, R, H]`` -> h' ``[P, R, H]``."""
        xe = x[:, :, None]  # [P, R, 1] * u [P, 1, H] -> [P, R, H]
        zr = tf.sigmoid(xe * tf.concat([self.u_z, self.u_r], -1) + tf.matmul(h, tf.concat([self.w_z, self.w_r], -1)))
        z, r = tf.split(zr, 2, axis=-1)
        g = tf.tanh(xe * self.u_g + tf.matmul(r * h, self.w_g))
        return (1.0 - z) * h + z * g

    def head(self, h: tf.Tensor) -> tf.Tensor:
        """y = h w_hy + b_y: ``[P, R, H]`` -> ``[P, R]``."""
        return tf.squeeze(tf.matmul(h, self.w_hy) + self.b_y, axis=-1)

    def call(
        self,
        inputs: tf.Tensor,
        initial_state: tf.Tensor | None = None,
        return_states: bool = True,
        scales: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor | None]:
        inputs = tf.convert_to_tensor(inputs, self.compute_dtype)
        xs = tf.transpose(inputs, [0, 2, 1])  # [T, P, R]
        reads = xs
        if self.normalize:
            scales = change_scales(inputs) if scales is None else tf.cast(scales, self.compute_dtype)
            changes = tf.concat([tf.zeros_like(xs[:1]), xs[1:] - xs[:-1]], axis=0)
            reads = tf.math.divide_no_nan(changes, scales[:, None, None])
        if initial_state is None:
            h = tf.zeros([self.num_coords, tf.shape(inputs)[1], self.hidden_size], self.compute_dtype)
        else:
            h = tf.transpose(tf.stop_gradient(tf.convert_to_tensor(initial_state, self.compute_dtype)), [1, 0, 2])
        outputs, states = [], []
        for t in range(inputs.shape[0]):
            if not (self.normalize and t == 0):  # normalize: step 0 has no change to read
                h = self.step(reads[t], h)
            correction = self.head(h) * scales[t] if self.normalize else self.head(h)
            y = xs[t] + correction if self.residual else correction
            if self.extrapolate and t > 0:
                y += self.extrapolation_scale * self.alpha * (xs[t] - xs[t - 1])
            outputs.append(y)
            if return_states:  # else keep no per-step state: generation holds one step's, not T
                states.append(h)
        outputs = tf.transpose(tf.stack(outputs), [0, 2, 1])
        return outputs, (tf.transpose(tf.stack(states), [0, 2, 1, 3]) if return_states else None)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_coords": self.num_coords,
            "hidden_size": self.hidden_size,
            "seed": self.seed,
            "residual": self.residual,
            "extrapolate": self.extrapolate,
            "extrapolation_scale": self.extrapolation_scale,
            "normalize": self.normalize,
        }


def change_scales(sequence: tf.Tensor) -> tf.Tensor:
    """``[T, R, P]`` -> ``[T]``: s_t = sqrt(mean((x_t - x_{t-1})^2)) over all R x P values, s_0 = 0."""
    sequence = tf.convert_to_tensor(sequence)
    rms = tf.sqrt(tf.reduce_mean(tf.square(sequence[1:] - sequence[:-1]), axis=[1, 2]))
    return tf.concat([tf.zeros([1], sequence.dtype), rms], axis=0)
