"""Rows in and out: lists of dicts, pandas DataFrames (only when pandas is importable), CSV."""
import csv
import datetime
import decimal
import io
import math
import sys


def pandas_module(required=False):
    """pandas, or None when it is not installed (an ImportError when required)."""
    try:
        import pandas  # noqa: F401  (imported lazily: it is slow and optional)
    except ImportError:
        if required:
            raise ImportError("as_frame=True needs pandas: pip install pandas") from None
        return None
    return pandas


def is_frame(obj):
    """Whether obj is a pandas DataFrame (without importing pandas)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


def clean_value(v):
    """A JSON-friendly cell: None for missing (None, NaN, NaT), plain numbers, text otherwise."""
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else v
    if hasattr(v, "item") and type(v).__module__ == "numpy":  # numpy scalars
        return clean_value(v.item())
    if isinstance(v, decimal.Decimal):
        return clean_value(float(v))
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    pd = sys.modules.get("pandas")
    if pd is not None:
        try:
            if pd.isna(v):
                return None
        except (TypeError, ValueError):
            pass
        if isinstance(v, pd.Timestamp):
            return v.isoformat()
    return str(v)


def to_records(rows):
    """rows (a DataFrame, a list of dicts, or one dict) -> a list of JSON-ready dicts."""
    if is_frame(rows):
        cols = [str(c) for c in rows.columns]
        return [{c: clean_value(v) for c, v in zip(cols, tup)} for tup in rows.itertuples(index=False, name=None)]
    if isinstance(rows, dict):
        rows = [rows]
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise TypeError("rows[%d]: expected a dict of column name to value, got %s" % (i, type(row).__name__))
        out.append({str(k): clean_value(v) for k, v in row.items()})
    return out


def nrows(rows):
    if is_frame(rows):
        return len(rows.index)
    if isinstance(rows, dict):
        return 1
    return len(rows)


def slice_rows(rows, start, stop):
    if is_frame(rows):
        return rows.iloc[start:stop]
    return rows[start:stop]


def records_to_csv(records):
    """A list of dicts -> CSV bytes (columns in first-seen order; None is an empty cell)."""
    cols = []
    seen = set()
    for r in records:
        for k in r:
            if k not in seen:
                seen.add(k)
                cols.append(k)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in records:
        w.writerow(["" if r.get(c) is None else clean_value(r.get(c)) for c in cols])
    return buf.getvalue().encode("utf-8")


def csv_to_records(data):
    """CSV bytes -> a list of dicts of strings (an empty cell is None)."""
    text = data.decode("utf-8-sig") if isinstance(data, (bytes, bytearray)) else data
    reader = csv.DictReader(io.StringIO(text))
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]


def numeric_frame(df):
    """Turns the text columns of df that are all numbers (or missing) into numeric columns."""
    pd = pandas_module(required=True)
    for col in df.columns:
        if df[col].dtype == object:
            try:
                df[col] = pd.to_numeric(df[col])
            except (ValueError, TypeError):
                pass
    return df


def frame(records, columns=None, index=None):
    pd = pandas_module(required=True)
    df = pd.DataFrame.from_records(records, columns=columns)
    if index is not None and len(index) == len(df.index):
        df.index = index
    return numeric_frame(df)
