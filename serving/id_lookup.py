"""Raw ids -> table rows inside the serving graph, from vocabulary files in the version's own ``assets/``.

Each id space (users, items) is a ``tf.lookup.StaticHashTable`` initialised from a ``tf.saved_model.Asset`` (line
``n`` = the raw id of row ``n``), so the SavedModel tracks the file, copies it into ``<version>/assets/`` and
TF Serving initialises the table when it loads the version: nothing is shipped beside it. An id the file does not
hold maps to row ``n`` (the out-of-vocabulary row, see ``serving.schema``).

Ids arrive as strings. In an *integer* space (every raw id a canonical decimal int64, ``asmg_tf.data.vocab``) a
string must spell an integer and is read as one ("0042" is 42; an integer beyond int64 is simply unknown) and an
int64 tensor means the same id; in other spaces the text is matched exactly. Bad ids (empty, or not an integer where
the space is) fail the request with INVALID_ARGUMENT naming the feature, never map silently.

Checks cost little while a request is good: each adds its condition to the request's ``Checks``, which asserts once,
on all of them, before the answer, and works out which one failed (and the offending value) only when one did. Every
op before that point is safe on bad input (bad text maps to the OOV row, lengths are clipped), so the request's first
error is always the named one, never an op's own. Callers pass only real ids (a history's padding is cut off first):
the string hashing is most of the remaining cost, about 40 ns an id here.
"""

from __future__ import annotations

import tensorflow as tf

#: an integer space's ids on the wire: optional '-', then digits
_INTEGER_TEXT = r"-?[0-9]+"


class Checks:
    """The input checks of one request, asserted together (``guard``)."""

    def __init__(self) -> None:
        self._items: list[tuple[tf.Tensor, str, tf.Tensor]] = []

    def require(self, condition: tf.Tensor, message: str, values: tf.Tensor) -> None:
        """``condition`` (bool, ``values``' shape) must hold everywhere; else INVALID_ARGUMENT with ``message`` and
        the first value where it does not."""
        self._items.append((tf.reshape(condition, [-1]), message, tf.reshape(values, [-1])))

    def guard(self, output: tf.Tensor) -> tf.Tensor:
        """``output``, computed only once every check holds (one ``cond``: the messages are built when one fails)."""
        if not self._items:
            return output
        ok = tf.reduce_all(tf.concat([condition for condition, _, _ in self._items], 0))

        def report() -> tf.Tensor:
            asserts = []
            for condition, message, values in self._items:
                first = tf.argmax(tf.concat([tf.logical_not(condition), [True]], 0))  # len when all hold
                asserts.append(tf.debugging.Assert(tf.reduce_all(condition), [message, values[first : first + 1]]))
            with tf.control_dependencies(asserts):
                return tf.constant(False)

        passed = tf.cond(ok, lambda: tf.constant(True), report)
        with tf.control_dependencies([passed]):
            return tf.identity(output)


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
            key_dtype=tf.string,
            key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            value_dtype=tf.int64,
            value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            vocab_size=self.size,
        )
        self.table = tf.lookup.StaticHashTable(initializer, default_value=self.size)

    def rows(self, ids: tf.Tensor, feature: str, checks: Checks) -> tf.Tensor:
        """int32 rows in ``[0, n]`` of ``ids`` (string, or int64 in an integer space), any shape; the checks of
        string ids go to ``checks``."""
        ids = tf.convert_to_tensor(ids)
        if ids.dtype.is_integer:
            if not self.integer:
                raise TypeError(f"{feature}: the {self.space} ids of this model are strings, not integers")
            keys = tf.strings.as_string(tf.cast(ids, tf.int64))
        elif ids.dtype == tf.string:
            keys = self._keys(ids, feature, checks)
        else:
            raise TypeError(f"{feature}: ids must be strings or int64, got {ids.dtype.name}")
        return tf.cast(self.table.lookup(keys), tf.int32)

    def _keys(self, ids: tf.Tensor, feature: str, checks: Checks) -> tf.Tensor:
        checks.require(tf.strings.length(ids) > 0, f"{feature}: empty id", ids)
        if not self.integer:
            return ids
        spelled = tf.strings.regex_full_match(ids, _INTEGER_TEXT)
        checks.require(spelled, f"{feature}: this model has integer {self.space[:-1]} ids, got", ids)
        # the vocabulary's canonical text: no leading zeros ("0042" -> "42", "-007" -> "-7", "-0" -> "0")
        canonical = tf.strings.regex_replace(ids, r"^(-?)0+([0-9])", r"\1\2")
        return tf.where(tf.equal(canonical, "-0"), "0", canonical)
