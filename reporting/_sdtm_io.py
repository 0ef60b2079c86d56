"""SDTM dataset container and its two file formats: CSV and SAS transport (XPORT) version 5.

XPT files are written with pyreadstat (which needs pandas). Version 5 limits names to 8
characters, labels to 40 and character values to 200 bytes; :class:`SdtmDataset` checks them
before writing so a bad value fails with a clear message instead of a truncated file.

References
----------
.. [1] SAS Institute. The record layout of a data set in SAS transport (XPORT) format, TS-140.
.. [2] FDA Study Data Technical Conformance Guide: datasets in SAS XPORT version 5.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reporting.errors import MissingDependencyError, ReportingInputError

__all__ = ["SdtmDataset", "Variable"]

Value = str | float | dt.date | None

_XPT_NAME_MAX = 8
_XPT_LABEL_MAX = 40
_XPT_CHAR_MAX = 200


@dataclass(frozen=True, slots=True)
class Variable:
    """One SDTM/ADaM variable: name, label and whether it is numeric or a date.

    A date is a SAS date with format DATE9. in XPT, ISO 8601 in CSV.
    """

    name: str
    label: str
    numeric: bool = False
    date: bool = False


@dataclass(frozen=True, slots=True)
class SdtmDataset:
    """An SDTM domain: ordered variables and rows (``None`` or ``""`` is missing)."""

    domain: str
    label: str
    variables: tuple[Variable, ...]
    rows: tuple[Mapping[str, Value], ...]

    def __post_init__(self) -> None:
        names = [v.name for v in self.variables]
        for v in self.variables:
            if len(v.name) > _XPT_NAME_MAX or len(v.label) > _XPT_LABEL_MAX:
                raise ReportingInputError(f"variable {v.name}: name/label too long for XPT v5")
        for i, row in enumerate(self.rows):
            extra = set(row) - set(names)
            if extra:
                raise ReportingInputError(
                    f"{self.domain} row {i}: unknown variables {sorted(extra)}"
                )
            for v in self.variables:
                value = row.get(v.name)
                if v.date:
                    if value is not None and not isinstance(value, dt.date):
                        raise ReportingInputError(
                            f"{self.domain}.{v.name} row {i}: expected a date"
                        )
                    continue
                if isinstance(value, dt.date):
                    raise ReportingInputError(
                        f"{self.domain}.{v.name} row {i}: not a date variable"
                    )
                if v.numeric and value is not None and not isinstance(value, float | int):
                    raise ReportingInputError(f"{self.domain}.{v.name} row {i}: expected a number")
                if not v.numeric and value is not None and not isinstance(value, str):
                    raise ReportingInputError(f"{self.domain}.{v.name} row {i}: expected text")
                if isinstance(value, str) and len(value.encode("utf-8")) > _XPT_CHAR_MAX:
                    raise ReportingInputError(
                        f"{self.domain}.{v.name} row {i}: longer than {_XPT_CHAR_MAX} bytes"
                    )

    @property
    def columns(self) -> list[str]:
        return [v.name for v in self.variables]

    def column(self, name: str) -> list[Value]:
        """Return the values of one variable, in row order."""
        return [row.get(name) for row in self.rows]

    def to_csv(self) -> bytes:
        r"""Return CSV (UTF-8, header row, ``\r\n`` line ends as RFC 4180); missing values empty."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_csv_cell(row.get(name)) for name in self.columns])
        return buf.getvalue().encode("utf-8")

    def to_xpt(self) -> bytes:
        """SAS transport version 5 file of the dataset (member name = the domain)."""
        try:
            import pandas as pd
            import pyreadstat
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise MissingDependencyError(
                "writing SAS transport files needs pyreadstat and pandas; "
                "install them with 'pip install pyreadstat pandas'"
            ) from exc
        data: dict[str, list[object]] = {}
        for v in self.variables:
            values = self.column(v.name)
            if v.date:
                data[v.name] = list(values)
            elif v.numeric:
                data[v.name] = [
                    float(x) if isinstance(x, float | int) else math.nan for x in values
                ]
            else:
                data[v.name] = ["" if x is None else str(x) for x in values]
        frame = pd.DataFrame(data, columns=self.columns)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{self.domain.lower()}.xpt"
            pyreadstat.write_xport(
                frame,
                str(path),
                file_label=self.label[:_XPT_LABEL_MAX],
                column_labels={v.name: v.label for v in self.variables},
                table_name=self.domain,
                file_format_version=5,
                variable_format={v.name: "DATE9." for v in self.variables if v.date} or None,
            )
            return path.read_bytes()

    def to_bytes(self, fmt: Literal["csv", "xpt"]) -> bytes:
        """Return the dataset in ``fmt`` (``csv`` or ``xpt``)."""
        if fmt == "csv":
            return self.to_csv()
        if fmt == "xpt":
            return self.to_xpt()
        raise ReportingInputError(f"unknown SDTM format {fmt!r}; expected 'csv' or 'xpt'")


def _csv_cell(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    return value
