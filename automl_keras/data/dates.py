"""Date and time columns of tables: recognising them and turning them into days.

A model cannot take dates as such; a date column reaches it as days since
1970-01-01 (fractions for times of day, UTC for dates with a time zone), the
form time-series models take their dates in too. From that number the model
derives the trend and the calendar terms (`forecasting.calendar_terms`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: ISO 8601 months and dates, with an optional time of day and time zone
#: ("2024-03", "2024-03-01", "2024-03-01 12:30", "2024-03-01T12:30:00.5+02:00").
ISO_DATE = re.compile(
    r"^\d{4}-\d{2}(?:-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?$"
)

#: The share of a text column's present values that must be ISO dates.
DATE_SHARE = 0.95

_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def holds_dates(values: pd.Series) -> bool:
    """Whether a column holds dates: a datetime dtype, date objects, or ISO text.

    Text qualifies when at least `DATE_SHARE` of its present values are ISO
    8601 dates (other date formats are ambiguous, e.g. 01/02/2024; mark such
    a column "datetime" in `column_types` to have it parsed).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    present = values.dropna()
    if not len(present):
        return False
    kind = pd.api.types.infer_dtype(present, skipna=True)
    if kind in ("date", "datetime", "datetime64"):
        return True
    if kind != "string":
        return False
    matches = present.astype(str).str.strip().str.match(ISO_DATE)
    return bool(matches.mean() >= DATE_SHARE)


def date_days(values: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 (UTC) of each value, NaN where missing or not a date.

    Text in ISO 8601 is read as such; other text as pandas reads dates.
    """
    if not pd.api.types.is_datetime64_any_dtype(values):
        text = values.astype("string").str.strip()
        if bool(text.dropna().str.match(ISO_DATE).all()):
            values = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        else:
            values = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    else:
        values = pd.to_datetime(values, utc=True)
    days = (values - _EPOCH) / pd.Timedelta(days=1)
    return np.asarray(days.to_numpy(dtype="float64", na_value=np.nan))
