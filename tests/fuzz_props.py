"""Fuzzing properties shared by the quick suite (``tests/test_fuzz_*.py``, few examples) and the long runs
(``tools/fuzz.py``, many): the strategies that make inputs and the checks each input must pass.

Readers: a file of every format, as table cells drawn from valid and nasty values (a *structured* file: we know
how many data rows it has) or as raw bytes (random, or a valid file with bytes flipped, inserted, cut). Every read
either returns ``Interactions`` whose kept + dropped rows equal the file's rows (structured files), or raises a
``DataError`` naming the file; nothing else may escape.
"""

from __future__ import annotations

import os
import tempfile

from hypothesis import strategies as st

#: format -> (file name, header); cells are drawn per column
FORMATS = {
    "generic": ("log.csv", ["user", "item", "timestamp", "category"]),
    "movielens": ("ratings.csv", ["userId", "movieId", "rating", "timestamp"]),
    "online-retail": ("online_retail.csv", ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                                            "UnitPrice", "CustomerID", "Country"]),
    "sobazaar": ("Sobazaar-hashID.csv", ["Action", "Timestamp", "UserID", "ItemID"]),
    "tmall": ("user_log_format1.csv", ["user_id", "item_id", "cat_id", "seller_id", "brand_id", "time_stamp",
                                       "action_type"]),
    "paper-csv": ("samples.csv", ["userId", "itemSeq", "itemId", "label", "date"]),
}  # fmt: skip
#: values a column may plausibly hold, and values that break assumptions (no separators, quotes or newlines, so
#: the row count of a structured file is known)
PLAUSIBLE = ["1", "2", "17", "0", "3.0", "4.5", "5", "1396000000", "1396086400", "20140101", "20141111",
             "2011-12-01 08:26:00", "12/1/2010 8:26", "content:interact:product_clicked", "product_detail_clicked",
             "A12", "85123A", "C536379", "POST", "u7", "1#2#3", "2#5", "Action|Comedy"]  # fmt: skip
NASTY = ["", " ", "nan", "NaN", "None", "-1", "-0", "1e400", "-1e400", "inf", "-inf", "9223372036854775808",
         "99999999999999999999999", "1.5", "0x10", "2014-13-45", "20141399", "00000000", "2262-04-12", "1677-09-21",
         "true", "\u00e9\u00e8", "\u2603", "\x00", "#", "1##2", "#1", "1e5", "٣"]  # fmt: skip
cells = st.sampled_from(PLAUSIBLE + NASTY) | st.text(
    alphabet=st.characters(blacklist_characters=',"\r\n\t'), max_size=8
)


@st.composite
def structured_file(draw, fmt: str) -> tuple[str, int]:
    """(CSV text, number of data rows) for ``fmt``: the header, then rows of drawn cells."""
    header = FORMATS[fmt][1]
    n = draw(st.integers(0, 12))
    rows = [[draw(cells) for _ in header] for _ in range(n)]
    text = ",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    return text, n


@st.composite
def mutated_bytes(draw, fmt: str) -> bytes:
    """A structured file of ``fmt`` with random byte edits, or plain random bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=400))
    data = bytearray(draw(structured_file(fmt))[0].encode("utf-8", "surrogatepass"))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


def read_file(fmt: str, content: bytes | str):
    """Write ``content`` under the format's file name in a fresh folder and read it with the ``fmt`` reader.
    Returns ``(interactions, path)``; raises what the reader raises."""
    from asmg_tf.data.readers import load_interactions

    folder = tempfile.mkdtemp(prefix="asmg-fuzz-")
    path = os.path.join(folder, FORMATS[fmt][0])
    with open(path, "wb") as f:
        f.write(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
    try:
        return load_interactions(path, fmt), path
    finally:
        os.remove(path)
        os.rmdir(folder)


def check_reader(fmt: str, content: bytes | str, rows: int | None = None) -> None:
    """The reader's contract on one input (see the module docstring); an ``AssertionError`` or the escaped
    exception otherwise."""
    import warnings

    from asmg_tf.data.errors import DataError

    try:
        with warnings.catch_warnings():
            # NumPy's "invalid value encountered in cast" is a silently wrong value (inf or NaN cast to an int)
            warnings.filterwarnings("error", category=RuntimeWarning)
            inter, path = read_file(fmt, content)
    except DataError as e:
        assert e.path, f"DataError without the file: {e}"
        return
    if fmt == "paper-csv":  # samples, not events: each kept row is one sample
        assert len(inter.events) <= (rows if rows is not None else len(inter.events))
        return
    assert len(inter.events) > 0
    if rows is not None:
        kept, dropped = len(inter.events), sum(inter.dropped.values())
        assert kept + dropped == rows, (
            f"{fmt}: {rows} rows in the file, {kept} kept + {dropped} dropped {inter.dropped}"
        )
    ts = inter.events["timestamp"].to_numpy()
    assert ts.dtype.kind == "i", f"{fmt}: timestamps of dtype {ts.dtype}"
