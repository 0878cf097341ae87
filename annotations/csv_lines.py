"""CSV records with the file line each one starts on, so that every import's messages name
the line a person sees in their editor (a header is line 1, blank lines count, a quoted cell
with line breaks spans several lines and its record is named by its first)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator


class CsvProblem(ValueError):
    """The text is not valid CSV at ``line``."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def csv_lines(text: str, *, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` for each record of ``text`` that has a non-blank cell."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise CsvProblem(start, f"malformed CSV ({error})") from None
        if any(cell.strip() for cell in cells):
            yield start, cells


def csv_dict_lines(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header (first non-blank record, names stripped) and ``(line, {column: cell})``
    for every later record; missing cells are empty strings."""
    records = csv_lines(text)
    first = next(records, None)
    if first is None:
        return [], []
    header = [name.strip() for name in first[1]]
    rows = [(line, {name: cells[index] if index < len(cells) else ""
                    for index, name in enumerate(header)}) for line, cells in records]
    return header, rows
