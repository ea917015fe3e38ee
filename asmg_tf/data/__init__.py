"""Period data: readers for real logs, the paper's preprocessing, period splits and a synthetic stream."""

from asmg_tf.data.errors import DataError
from asmg_tf.data.interactions import Interactions
from asmg_tf.data.periods import HIST_LEN, PeriodData, PeriodSet, Protocol

__all__ = ["DataError", "HIST_LEN", "Interactions", "PeriodData", "PeriodSet", "Protocol"]
