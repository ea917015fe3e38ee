"""Property tests of the readers (hypothesis, few examples; ``tools/fuzz.py --target readers`` runs thousands):
every format's reader on structured files of valid and nasty cells and on random or mutated bytes either returns
the rows it kept and counted the rest as dropped, or raises a ``DataError`` naming the file; nothing else escapes.
Below them, one regression test per finding of the long runs."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asmg_tf.data.errors import DataError
from tests import fuzz_props as P

QUICK = settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("fmt", sorted(P.FORMATS))
@QUICK
@given(data=st.data())
def test_structured_files_are_read_or_rejected_with_a_data_error(fmt, data):
    text, rows = data.draw(P.structured_file(fmt))
    P.check_reader(fmt, text, rows)


@pytest.mark.parametrize("fmt", sorted(P.FORMATS))
@QUICK
@given(data=st.data())
def test_random_and_mutated_bytes_only_raise_data_errors(fmt, data):
    P.check_reader(fmt, data.draw(P.mutated_bytes(fmt)))


def _rejected(fmt: str, text: str, column: str) -> DataError:
    with pytest.raises(DataError) as info:
        P.read_file(fmt, text)
    assert info.value.path and info.value.column == column, str(info.value)
    return info.value


@pytest.mark.parametrize("bad", ["inf", "1.5", "1e30", "99999999999999999999"])
def test_finding_movielens_ids_that_are_not_integers_are_rejected_not_cast(bad):
    """Found by fuzzing: ``inf`` escaped as pandas' IntCastingNaNError; 1.5 was truncated to 1 and 1e30 wrapped."""
    error = _rejected(
        "movielens", f"userId,movieId,rating,timestamp\n1,2,4,1396000000\n{bad},3,5,1396000001\n", "userId"
    )
    assert error.row == 2


def test_finding_generic_ids_beyond_int64_stay_text_instead_of_wrapping():
    """Found by fuzzing: ids such as 99999999999999999999999 or inf went through a float cast ('invalid value
    encountered in cast'); two long ids could even merge into one float."""
    inter, _ = P.read_file(
        "generic",
        "user,item,timestamp\n99999999999999999999999,1,1396000000\n99999999999999999999998,inf,1396000001\n",
    )
    assert list(inter.events["user"]) == ["99999999999999999999999", "99999999999999999999998"]
    assert list(inter.events["item"]) == ["1", "inf"]


@pytest.mark.parametrize("bad", ["inf", "-inf", "1e300"])
def test_finding_infinite_or_huge_float_times_are_rejected_not_wrapped(bad):
    """Found by fuzzing (Sobazaar): a float timestamp ``inf`` was cast to a garbage int64 time."""
    text = f"Action,Timestamp,UserID,ItemID\nproduct_detail_clicked,1396000000.5,u1,i1\nproduct_detail_clicked,{bad},u2,i2\n"
    error = _rejected("sobazaar", text, "Timestamp")
    assert error.row == 2


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("3000000000,1#2,3,1,20140101", "userId"),  # wrapped to a negative int32 before
        ("1.5,1#2,3,1,20140101", "userId"),  # truncated to 1 before
        ("1,1#2,3,7,20140101", "label"),  # a label of 7 was trained on as is
        ("1,1#9999999999,3,1,20140101", "itemSeq"),  # a history id wrapped in the int32 table
        ("1,1#2,3,1,inf", "date"),  # cast to a garbage int64
    ],
)
def test_finding_paper_csv_values_the_int32_tables_cannot_hold_are_rejected(row, column):
    """Found reviewing the fuzzer's cast warnings: the paper CSV's ids, labels and dates were cast to int32 /
    float32 / int64 without a range check, so out-of-range values were silently wrapped or truncated."""
    error = _rejected("paper-csv", f"userId,itemSeq,itemId,label,date\n0,1#2,3,1,20140101\n{row}\n", column)
    assert error.row == 2
