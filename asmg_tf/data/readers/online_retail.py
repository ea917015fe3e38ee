"""UCI "Online Retail" (UK gift retailer, Dec 2010 - Dec 2011): purchases as implicit positives.

Positive filter (shared/data/online-retail-uci/SOURCE.md): CustomerID present, InvoiceNo not starting with "C"
(cancellations), Quantity > 0, and product StockCodes only (postage, manual, bank charges... are not products).
user = int(CustomerID), item = StockCode, timestamp = InvoiceDate (naive times are taken as UTC). Identical
(user, item, timestamp) rows (the same product on two lines of one invoice) are kept once.

No categories, so the preset is "sobazaar"; ``tie_policy="snap"`` keeps whole invoices in one period.
"""

from __future__ import annotations

import os

import pandas as pd

from asmg_tf.data.errors import DataError
from asmg_tf.data.interactions import Interactions
from asmg_tf.data.readers import _common as c

COLUMNS = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "CustomerID")
NON_PRODUCT_CODES = frozenset({"POST", "DOT", "M", "C2", "D", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B"})
EXTENSIONS = (".parquet", ".xlsx", ".xls", ".csv", ".csv.gz")


def _load_table(path: str) -> pd.DataFrame:
    lower = path.lower()
    if lower.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except Exception as e:  # noqa: BLE001  (pyarrow raises several types for a bad file)
            raise DataError(f"cannot read as Parquet: {e}", path=path) from None
        missing = [col for col in COLUMNS if col not in names]
        if missing:
            raise DataError(f"missing column(s) {missing}; the file has {names}", path=path, column=missing[0])
        return pd.read_parquet(path, columns=list(COLUMNS))
    if lower.endswith((".xlsx", ".xls")):
        try:
            return pd.read_excel(path, usecols=list(COLUMNS), dtype={"InvoiceNo": str, "StockCode": str})
        except ImportError as e:
            raise DataError(
                f"reading Excel needs the openpyxl package ({e}); install it (pip install openpyxl) or save the sheet "
                "as CSV/Parquet first",
                path=path,
            ) from None
        except ValueError as e:
            raise DataError(f"cannot read the sheet: {e}; needed columns {list(COLUMNS)}", path=path) from None
    header = c.read_header(path)
    missing = [col for col in COLUMNS if col not in header.split(",")]
    if missing:
        raise DataError(f"missing column(s) {missing}; the header is {header!r}", path=path, column=missing[0])
    return c.read_csv(
        path, usecols=list(COLUMNS), dtype={"InvoiceNo": str, "StockCode": str}, encoding_errors="replace"
    )


def read(path: str, *, dedupe: bool = True, non_product_codes: frozenset[str] = NON_PRODUCT_CODES) -> Interactions:
    """Read the Online Retail table (Parquet, Excel or CSV; a folder holding one such file) as purchases."""
    file = c.find_by_extension(path, EXTENSIONS, "Online Retail table")
    df = _load_table(file)
    dropped: dict = {}
    df = c.drop_missing(df, ["CustomerID", "InvoiceNo", "StockCode", "Quantity", "InvoiceDate"], dropped)
    invoice = df["InvoiceNo"].astype(str).str.strip()
    df = c.count_drop(df, invoice.str.upper().str.startswith("C").to_numpy(), "cancellation", dropped)
    qty = c.to_numeric(df["Quantity"], file, "Quantity")
    df = c.count_drop(df, (qty <= 0).to_numpy(), "non_positive_quantity", dropped)
    code = df["StockCode"].astype(str).str.strip()
    df = c.count_drop(df, code.str.upper().isin(non_product_codes).to_numpy(), "non_product_stockcode", dropped)
    user = c.to_int64(df["CustomerID"], file, "CustomerID", "a customer number")
    events = pd.DataFrame(
        {
            "user": user,
            "item": df["StockCode"].astype(str).str.strip().to_numpy(),
            "timestamp": c.to_unix_seconds(df["InvoiceDate"], file, "InvoiceDate"),
        },
        index=df.index,
    )
    if dedupe:
        events = c.count_drop(events, events.duplicated(["user", "item", "timestamp"]).to_numpy(), "duplicate", dropped)
    c.ensure_rows(events, file, dropped)
    return Interactions(
        name=c.dataset_name(path if os.path.isdir(path) else file),
        kind="sobazaar",
        events=events,
        dropped=dropped,
        source=file,
        tie_policy="snap",
    )
