"""Sobazaar (``Sobazaar-hashID.csv.gz``): every action (impression, click, purchase...) is an implicit positive.

Columns as in the public file: ``Action``, ``Timestamp`` (ISO 8601 such as ``2014-09-01T00:01:04.511Z``),
``UserID``, ``ItemID`` (hashed ids). The paper keeps all actions of Sep-Dec 2014, the whole file; ``start``/``end``
optionally narrow the window, ``actions`` optionally keeps only some action types. Fractional seconds are
dropped (the paper's ``split('.')[0]``); times are UTC. No categories: preset "sobazaar".
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pandas as pd

from asmg_tf.data.errors import DataError
from asmg_tf.data.interactions import Interactions
from asmg_tf.data.readers import _common as c

FILE_NAMES = ("Sobazaar-hashID.csv.gz", "Sobazaar-hashID.csv")
COLUMNS = ("Action", "Timestamp", "UserID", "ItemID")


def read(path: str, *, start=None, end=None, actions: Iterable[str] | None = None) -> Interactions:
    """Read the Sobazaar interaction log (a folder holding it, or the file itself)."""
    file = c.find_file(path, FILE_NAMES, "Sobazaar file")
    header = c.read_header(file)
    missing = [col for col in COLUMNS if col not in [h.strip().strip('"') for h in header.split(",")]]
    if missing:
        raise DataError(f"missing column(s) {missing}; the header is {header!r}", path=file, column=missing[0])
    df = c.read_csv(file, usecols=list(COLUMNS), dtype=str)
    dropped: dict = {}
    df = c.drop_missing(df, ["UserID", "ItemID", "Timestamp"], dropped)
    if actions is not None:
        df = c.count_drop(df, ~df["Action"].isin(list(actions)).to_numpy(), "other_action", dropped)
    events = pd.DataFrame(
        {
            "user": df["UserID"].str.strip().to_numpy(),
            "item": df["ItemID"].str.strip().to_numpy(),
            "timestamp": c.to_unix_seconds(df["Timestamp"], file, "Timestamp"),
        },
        index=df.index,
    )
    events = c.apply_window(
        events, c.parse_bound(start, file, "start"), c.parse_bound(end, file, "end", end=True), dropped
    )
    c.ensure_rows(events, file, dropped)
    return Interactions(
        name=c.dataset_name(path if os.path.isdir(path) else file),
        kind="sobazaar",
        events=events,
        dropped=dropped,
        source=file,
    )
