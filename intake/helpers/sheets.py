"""Rows of text cells for the helpers' spreadsheets, appended in constant time per row.

A string is stored as a string whatever it starts with (and ``=…`` gets the leading quote
of :func:`intake.exports.text_cell`), so a cell can never become a formula. The cells are
made before they are appended: fixing them up after ``append`` through ``sheet[n]`` or
``sheet.max_row`` makes openpyxl scan every cell of the sheet for each row, which turns a
50,000-row file into minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import Cell

from intake.exports import text_cell

__all__ = ["text_row"]


def text_row(sheet: Any, values: Iterable[Any]) -> list[Cell]:
    """Cells for ``sheet.append``: strings kept strings, never formulas."""
    cells = []
    for value in values:
        cell = Cell(sheet, row=1, column=1, value=text_cell(value))  # placed by append
        if isinstance(cell.value, str):
            cell.data_type = "s"
        cells.append(cell)
    return cells
