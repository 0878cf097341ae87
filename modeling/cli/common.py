"""Reading long-format CSV input and writing result files for the command line.

Input files use crowd-kit's column names and a header row. Errors name the file, the line
(the header is line 1) and the problem; result files are written to a temporary name and
renamed, so a failed run never leaves a partial output behind.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modeling.errors import InputError, ModelError

__all__ = ["InputError", "ModelError", "Table", "factorize", "format_float", "parse_numbers",
           "read_table", "write_csv"]


@dataclass(frozen=True)
class Table:
    """Columns of a CSV file as lists of stripped strings, with the file line of each row."""

    path: str
    columns: dict[str, list[str]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.lines)

    def error(self, row: int, message: str) -> InputError:
        return InputError(message, path=self.path, line=self.lines[row])


def read_table(path: str | os.PathLike[str], *, required: Sequence[str],
               optional: Sequence[str] = ()) -> Table:
    """Read a CSV with a header that has every ``required`` column (any order).

    Extra columns are ignored. Empty required cells are errors; missing optional columns
    are absent from ``Table.columns``. Plain files (no quotes, no blank lines, the same
    number of fields on every line) take a vectorized path; anything else, including every
    malformed file, goes through the csv module, which names the offending line.
    """
    text = _decode(Path(path))
    simple = _read_simple(text, str(path), required, optional)
    if simple is not None:
        return simple
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise InputError("the file is empty; expected a header row", path=path, line=1) from None
    except csv.Error as error:
        raise InputError(f"malformed CSV header: {error}", path=path, line=1) from None
    missing = [name for name in required if name not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)} in header {header}",
                         path=path, line=1)
    wanted = [name for name in (*required, *optional) if name in header]
    positions = [header.index(name) for name in wanted]
    columns: dict[str, list[str]] = {name: [] for name in wanted}
    lines: list[int] = []
    n_fields = len(header)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise InputError(f"malformed CSV: {error}", path=path, line=reader.line_num) from None
        if not record or all(not cell.strip() for cell in record):
            continue  # blank line
        if len(record) != n_fields:
            raise InputError(f"expected {n_fields} fields, found {len(record)}",
                             path=path, line=reader.line_num)
        for name, position in zip(wanted, positions, strict=True):
            cell = record[position].strip()
            if not cell and name in required:
                raise InputError(f"empty value in column '{name}'", path=path,
                                 line=reader.line_num)
            columns[name].append(cell)
        lines.append(reader.line_num)
    if not lines:
        raise InputError("no data rows after the header", path=path, line=2)
    return Table(path=str(path), columns=columns, lines=lines)


def _read_simple(text: str, path: str, required: Sequence[str],
                 optional: Sequence[str]) -> Table | None:
    """The fast path of :func:`read_table`, or None when the file needs the careful one."""
    if '"' in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    head, _, body = text.partition("\n")
    header = [name.strip() for name in head.split(",")]
    if any(name not in header for name in required) or not body.strip():
        return None
    body = body[:-1] if body.endswith("\n") else body
    if "\n\n" in body:
        return None  # blank lines: the careful path skips them and keeps line numbers
    n_fields = len(header)
    encoded = np.frombuffer(body.encode("utf-8"), dtype=np.uint8)
    newlines = np.flatnonzero(encoded == ord("\n"))
    commas = np.flatnonzero(encoded == ord(","))
    per_line = np.diff(np.searchsorted(commas, np.r_[-1, newlines, len(encoded)]))
    if np.any(per_line != n_fields - 1):
        return None
    cells = body.replace("\n", ",").split(",")
    strip = not body.isascii() or " " in body or "\t" in body
    columns: dict[str, list[str]] = {}
    for name in (*required, *optional):
        if name not in header or name in columns:
            continue
        column = cells[header.index(name)::n_fields]
        if strip:
            column = [cell.strip() for cell in column]
        if name in required and "" in column:
            return None
        columns[name] = column
    return Table(path=path, columns=columns, lines=list(range(2, len(newlines) + 3)))


def _decode(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read file: {error.strerror}", path=path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise InputError("not valid UTF-8 text", path=path, line=line) from None


def factorize(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Map string ids to 0-based integer codes in order of first appearance."""
    names = list(dict.fromkeys(values))  # C-level passes: fast for millions of rows
    index = {name: code for code, name in enumerate(names)}
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    return codes, names


def parse_numbers(table: Table, column: str, *, integer: bool = False,
                  allowed: Iterable[float] | None = None) -> np.ndarray:
    """Parse a numeric column, naming the first bad line."""
    allowed_set = set(allowed) if allowed is not None else None
    try:  # vectorized parse; any problem falls through to the row-by-row one
        fast = np.asarray(table.columns[column]).astype(np.int64 if integer else np.float64)
        if allowed_set is None or np.isin(fast, list(allowed_set)).all():
            return fast
    except (ValueError, OverflowError):
        pass
    kind = int if integer else float
    out = np.empty(len(table), dtype=np.int64 if integer else np.float64)
    for row, cell in enumerate(table.columns[column]):
        try:
            value = kind(cell)
        except ValueError:
            noun = "an integer" if integer else "a number"
            raise table.error(row, f"column '{column}' must be {noun}, got {cell!r}") from None
        if allowed_set is not None and value not in allowed_set:
            raise table.error(row, f"column '{column}' must be one of "
                                   f"{sorted(allowed_set)}, got {cell!r}")
        out[row] = value
    return out


def write_csv(path: str | os.PathLike[str], header: Sequence[str],
              rows: Iterable[Sequence[object]]) -> None:
    """Write a CSV atomically (temporary file in the same folder, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def format_float(value: float, digits: int = 10) -> str:
    return f"{value:.{digits}g}"
