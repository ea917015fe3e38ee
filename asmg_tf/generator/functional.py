"""Run a Keras model with tensors in place of its variables (a "functional call"), differentiably.

``with substituted(specs, values): model(features)`` makes every layer read ``values[key]`` where it would read its
variable, so gradients flow from the model's output into whatever produced ``values`` (the generator), while the
model's variables are neither read nor changed. Attributes are swapped with ``object.__setattr__``, bypassing Keras'
attribute tracking, and put back on exit; the swap happens at Python level, so it also works while tracing a
``tf.function``. Not thread-safe: one substitution per model at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import tensorflow as tf

from asmg_tf.generator.patching import patched
from asmg_tf.generator.row_gather import DirectReadGuard, RowTable
from asmg_tf.generator.spec import TABLE, VariableSpec


@contextlib.contextmanager
def substituted(specs: Sequence[VariableSpec], values: Mapping[str, object]) -> Iterator[None]:
    """Make the model read ``values[spec.key]`` for every spec.

    A value is a tensor of the variable's shape, or for tables a ``RowTable`` (only some rows; the table's
    ``Embedding.call`` is replaced by a lookup into those rows, and a direct read of the table fails clearly).
    """
    missing = [s.key for s in specs if s.key not in values]
    if missing:
        raise KeyError(f"no substitute values for {missing}")
    with contextlib.ExitStack() as stack:
        for s in specs:
            value = values[s.key]
            if isinstance(value, RowTable):
                if s.kind != TABLE:
                    raise TypeError(f"{s.key} is a dense tensor; only tables take gathered rows")
                for layer, attr in s.holders:
                    stack.enter_context(patched(layer, "call", value.lookup))
                    stack.enter_context(patched(layer, attr, DirectReadGuard(s.key)))
            else:
                value = tf.convert_to_tensor(value)
                if value.shape.rank is not None and value.shape.as_list() != list(s.shape):
                    value = tf.reshape(value, s.shape)
                for layer, attr in s.holders:
                    stack.enter_context(patched(layer, attr, value))
        yield
