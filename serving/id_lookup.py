"""Raw ids -> table rows inside the serving graph, from vocabulary files in the version's own ``assets/``.

Each id space (users, items) is a ``tf.lookup.StaticHashTable`` initialised from a ``tf.saved_model.Asset`` (line
``n`` = the raw id of row ``n``), so the SavedModel tracks the file, copies it into ``<version>/assets/`` and
TF Serving initialises the table when it loads the version: nothing is shipped beside it. An id the file does not
hold maps to row ``n`` (the out-of-vocabulary row, see ``serving.schema``).

Ids arrive as strings. In an *integer* space (every raw id a canonical decimal int64, ``asmg_tf.data.vocab``) the
table is keyed by int64: a string must spell an integer ("0042" means 42) and an int64 tensor means the same id; in
other spaces the text is matched exactly. Bad ids (empty, or not an integer where the space is) fail the request with
INVALID_ARGUMENT naming the feature (``tf.debugging.Assert``), never map silently.

Callers pass only real ids (a history's padding is cut off first, ``RaggedTensor.from_tensor(lengths=...)``): the
string hashing is most of the cost, about 40 ns an id here.
"""

from __future__ import annotations

import tensorflow as tf

#: an integer space's ids on the wire: optional '-', then digits (int64 range checked by the conversion)
_INTEGER_TEXT = r"-?[0-9]{1,19}"


def check(condition: tf.Tensor, message: str, values: tf.Tensor) -> tf.Operation:
    """An INVALID_ARGUMENT with ``message`` and the first offending value when ``condition`` is not all true.

    Branch-free (a functional ``cond`` per check cost ~0.05 ms a request): the offending value is a slice at the
    first false entry, empty when there is none."""
    ok = tf.reshape(condition, [-1])
    first = tf.argmax(tf.concat([tf.logical_not(ok), [True]], 0))  # len(ok) when all hold
    return tf.debugging.Assert(tf.reduce_all(ok), [message, tf.reshape(values, [-1])[first : first + 1]])


class IdLookup(tf.Module):
    """The raw-id -> row table of one id space.

    Args:
        space: "users" or "items" (for messages).
        vocab_file: the vocabulary file (one raw id a line); tracked as an asset of the SavedModel.
        size: its number of lines ``n`` (checked when the table initialises); unknown ids map to row ``n``.
        integer: the space's ids are integers (see the module docstring).
    """

    def __init__(self, space: str, vocab_file: str, size: int, integer: bool):
        super().__init__(name=f"{space}_lookup")
        self.space, self.size, self.integer = space, int(size), bool(integer)
        self.vocab = tf.saved_model.Asset(vocab_file)
        initializer = tf.lookup.TextFileInitializer(
            self.vocab,
            key_dtype=tf.int64 if self.integer else tf.string,
            key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            value_dtype=tf.int64,
            value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            vocab_size=self.size,
        )
        self.table = tf.lookup.StaticHashTable(initializer, default_value=self.size)

    def rows(self, ids: tf.Tensor, feature: str) -> tf.Tensor:
        """int32 rows in ``[0, n]`` of ``ids`` (string, or int64 in an integer space), any shape."""
        ids = tf.convert_to_tensor(ids)
        if ids.dtype.is_integer:
            if not self.integer:
                raise TypeError(f"{feature}: the {self.space} ids of this model are strings, not integers")
            keys = tf.cast(ids, tf.int64)
        elif ids.dtype == tf.string:
            keys = self._keys(ids, feature)
        else:
            raise TypeError(f"{feature}: ids must be strings or int64, got {ids.dtype.name}")
        return tf.cast(self.table.lookup(keys), tf.int32)

    def _keys(self, ids: tf.Tensor, feature: str) -> tf.Tensor:
        checks = [check(tf.strings.length(ids) > 0, f"{feature}: empty id", ids)]
        if self.integer:
            spelled = tf.strings.regex_full_match(ids, _INTEGER_TEXT)
            checks.append(check(spelled, f"{feature}: this model has integer {self.space[:-1]} ids, got", ids))
            # 19 digits may pass int64's range: those few are checked as floats (2**63 is exact in float64)
            long = tf.boolean_mask(ids, tf.logical_and(spelled, tf.strings.length(ids) >= 19))
            with tf.control_dependencies(checks):
                fits = tf.abs(tf.strings.to_number(long, tf.float64)) < 2.0**63
            checks.append(check(fits, f"{feature}: an integer id outside int64's range", long))
        with tf.control_dependencies(checks):
            # "0042" -> 42; out of int64's range is StringToNumber's INVALID_ARGUMENT
            return tf.strings.to_number(ids, tf.int64) if self.integer else tf.identity(ids)
