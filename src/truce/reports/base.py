"""The building blocks of every report model: a closed top level, open rows, numbers and moments.

Numbers are `int | float` where a service gives either: Pydantic's smart union keeps an int an
int, so 3 does not turn into 3.0 on the way out. A moment is a date and time, a day, or text
where the service already wrote it as text.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

Number = int | float
Moment = dt.datetime | dt.date | str
Detail = dict[str, Any]


class Report(BaseModel):
    """A report's top level: its keys are the contract, so none may appear unannounced."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Row(BaseModel):
    """A row of a report; rows may carry optional extra keys (e.g. a model's standard errors)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
