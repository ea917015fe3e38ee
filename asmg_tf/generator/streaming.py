"""Generating the served model chunk by chunk of id-table rows, so its memory does not grow with k or the tables.

Every generator cell is independent across the rows of a table (a row has its own hidden state, the cell's weights
are shared by all rows), so the generated rows ``[a, b)`` of a table need only rows ``[a, b)`` of the window's k
models and of the carried state. ``write_generated`` reads the window one chunk of rows at a time (``WindowRows``
over row sources: ``asmg_tf.npz_rows.NpzRows`` reads a range of a saved model with one seek) and assigns each
generated chunk straight into the serving model's variables. Peak memory: the serving model, one chunk of the
window (k x chunk rows x d), and the carried state (``[N, d, H]`` per table, the method's own state), whatever k and
whatever the number of rows. Dense (non-table) variables are generated whole: they do not grow with the ids.

``normalize`` needs each variable's change scales s_t = sqrt(mean((x_t - x_{t-1})^2)) over the whole variable: a
first pass over the chunks sums the squares (float64), a second generates.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from asmg_tf.generator.meta_generator import LINEAR, MetaGenerator
from asmg_tf.generator.spec import TABLE, VariableSpec
from asmg_tf.models.weights import named_trainable_variables

#: rows per chunk: 32k rows of a d = 64 float32 table are 8 MB per model; the GRU's work per chunk (its inputs,
#: changes and outputs at every window step, the step's [P, rows, H] gates) is a few times k of that. Smaller chunks
#: cost eager dispatch (a few ops per window step and chunk), larger ones memory; 16k-256k measured alike in time
CHUNK_ROWS = 1 << 15


class RowSource(typing.Protocol):
    """A saved model's variables, readable by row ranges (``asmg_tf.npz_rows.NpzRows``, ``ArrayRows``)."""

    def rows(self, name: str, start: int, stop: int) -> np.ndarray: ...

    def value(self, name: str) -> np.ndarray: ...


class ArrayRows:
    """A ``RowSource`` over weights already in memory (``{key: array}``)."""

    def __init__(self, weights: Mapping[str, np.ndarray]):
        self.weights = weights

    def rows(self, name: str, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.weights[name][start:stop])

    def value(self, name: str) -> np.ndarray:
        return np.asarray(self.weights[name])


class WindowRows:
    """The window's T models (``sources``, oldest first), read as ``[T, rows, P]`` float32 blocks."""

    def __init__(self, sources: Sequence[RowSource]):
        if not sources:
            raise ValueError("the window holds no models")
        self.sources = list(sources)

    def block(self, spec: VariableSpec, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``[start, stop)`` of a table, or the whole of a dense variable, of every model: ``[T, R, P]``."""
        stop = spec.num_rows if stop is None else stop
        parts = [np.asarray(source_rows(src)(spec, start, stop), np.float32) for src in self.sources]
        expected = (stop - start if spec.kind == TABLE else 1, spec.num_coords)
        for part in parts:
            if part.shape != expected:
                raise ValueError(f"{spec.key}: a window model has rows of shape {part.shape}, expected {expected}")
        return np.stack(parts)

    def scales(self, spec: VariableSpec, chunk_rows: int) -> tf.Tensor:
        """``change_scales`` of the whole variable ``[T]``, summed chunk by chunk."""
        squares = np.zeros(len(self.sources) - 1, np.float64)
        for start, stop in _chunks(spec, chunk_rows):
            x = self.block(spec, start, stop).astype(np.float64)
            squares += np.square(x[1:] - x[:-1]).sum(axis=(1, 2))
        rms = np.sqrt(squares / max(1, spec.num_rows * spec.num_coords))
        return tf.constant(np.concatenate([[0.0], rms]), tf.float32)


def _chunks(spec: VariableSpec, chunk_rows: int) -> list[tuple[int, int]]:
    if spec.kind != TABLE:
        return [(0, 1)]
    return [(a, min(a + chunk_rows, spec.num_rows)) for a in range(0, spec.num_rows, chunk_rows)] or [(0, 0)]


def generated_chunks(
    generator: MetaGenerator,
    window: WindowRows,
    state: Mapping[str, tf.Tensor] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> typing.Iterator[tuple[VariableSpec, int, int, tf.Tensor]]:
    """``(spec, start, stop, rows [stop - start, P])`` of the model generated after the window's last step, one
    chunk of table rows at a time (a dense variable: one chunk, ``(0, 1)``). Same values as
    ``generator.generate`` on the whole window (up to float rounding of the change scales)."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    for spec, cell in zip(generator.specs, generator.cells):
        scales = window.scales(spec, chunk_rows) if generator.normalize else None
        h = None if state is None else state[spec.key]
        for start, stop in _chunks(spec, chunk_rows):
            x = tf.constant(window.block(spec, start, stop))
            if generator.kind == LINEAR:
                y = cell(x)
            else:
                h0 = None if h is None else h[start:stop]
                extra = {"scales": scales} if generator.normalize else {}
                ys, _ = cell(x, h0, return_states=False, **extra)
                y = ys[-1]
            yield spec, start, stop, y


def write_generated(
    model: tf.keras.Model,
    generator: MetaGenerator,
    window: WindowRows,
    state: Mapping[str, tf.Tensor] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> None:
    """Generate into ``model``'s variables (the base architecture the generator was built from), chunk by chunk."""
    variables = named_trainable_variables(model)
    for spec, start, stop, rows in generated_chunks(generator, window, state, chunk_rows):
        _assign(variables[spec.key], spec, start, stop, rows)


def write_rows(
    model: tf.keras.Model,
    specs: Sequence[VariableSpec],
    read: Callable[[VariableSpec, int, int], np.ndarray],
    chunk_rows: int = CHUNK_ROWS,
) -> None:
    """Assign ``read(spec, start, stop)`` (``[rows, P]``) to every variable of ``model``, chunk by chunk: a model
    built from row ranges of saved ones (the IU model, a step along an IU update) without a whole copy."""
    variables = named_trainable_variables(model)
    for spec in specs:
        for start, stop in _chunks(spec, chunk_rows):
            _assign(variables[spec.key], spec, start, stop, read(spec, start, stop))


def variable_rows(model: tf.keras.Model) -> Callable[[VariableSpec, int, int], np.ndarray]:
    """``read(spec, start, stop)`` over a model's current values (for ``write_rows``)."""
    variables = named_trainable_variables(model)

    def read(spec: VariableSpec, start: int, stop: int) -> np.ndarray:
        v = variables[spec.key]
        return v[start:stop].numpy() if spec.kind == TABLE else tf.reshape(v, [1, spec.num_coords]).numpy()

    return read


def source_rows(source: RowSource) -> Callable[[VariableSpec, int, int], np.ndarray]:
    """``read(spec, start, stop)`` over a ``RowSource`` (for ``write_rows``)."""

    def read(spec: VariableSpec, start: int, stop: int) -> np.ndarray:
        if spec.kind == TABLE:
            return source.rows(spec.key, start, stop)
        return np.asarray(source.value(spec.key)).reshape(1, spec.num_coords)

    return read


def _assign(variable: tf.Variable, spec: VariableSpec, start: int, stop: int, rows) -> None:
    if spec.kind == TABLE:
        if start == 0 and stop == spec.num_rows:
            variable.assign(rows)
        else:
            variable[start:stop].assign(rows)
    else:
        variable.assign(tf.reshape(rows, spec.shape))
