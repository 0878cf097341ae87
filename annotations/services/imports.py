"""Importing items from JSONL or CSV: validated as a whole, written all or nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction

from annotations.models import Item, Project
from annotations.rendering import counted
from annotations.services.ranking_config import ranking_tasks_sync

REQUIRED_FIELDS = ("external_id", "group", "source", "prompt", "content")
OPTIONAL_FIELDS = ("metadata",)
ALLOWED_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)
ID_FIELDS = ("external_id", "group", "source")
MAX_ID_CHARS = 255
MAX_REPORTED_ERRORS = 200


@dataclass(frozen=True)
class RowError:
    line: int  # 0 when the problem concerns the whole file
    message: str
    column: int | None = None  # a character position within the line (JSON errors)

    def __str__(self) -> str:
        if not self.line:
            return self.message
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class ImportRejected(Exception):
    """The file has problems; nothing was written."""

    def __init__(self, errors: list[RowError], total: int | None = None) -> None:
        self.errors = errors[:MAX_REPORTED_ERRORS]
        self.total = total if total is not None else len(errors)
        super().__init__(f"{self.total} problem(s); first: {self.errors[0]}")


@dataclass(frozen=True)
class ImportSummary:
    created: int
    groups: int
    sources: int
    warnings: tuple[RowError, ...] = ()  # imported, but worth a look

    @property
    def message(self) -> str:
        return (f"Imported {counted(self.created, 'item')} in {counted(self.groups, 'group')} "
                f"from {counted(self.sources, 'source')}.")


@dataclass
class _ParsedRow:
    line: int
    values: dict[str, object] = field(default_factory=dict)


def project_import_items(*, project: Project, data: bytes, filename: str = "") -> ImportSummary:
    """Validate every row of ``data`` and create all items, or raise :class:`ImportRejected`."""
    rows = _parse(data, filename)
    problems = _external_id_problems(project, rows) + _group_prompt_problems(project, rows)
    if problems:
        raise ImportRejected(sorted(problems, key=lambda error: error.line))
    items = [Item(project=project, **row.values) for row in rows]
    try:
        with transaction.atomic():
            Item.objects.bulk_create(items, batch_size=2000)
            ranking_tasks_sync(project=project, groups={item.group for item in items})
    except IntegrityError:
        raise ImportRejected([RowError(0, "Some external_id values were imported by someone "
                                          "else meanwhile; nothing was written. Try again.")]
                             ) from None
    return ImportSummary(created=len(items), groups=len({item.group for item in items}),
                         sources=len({item.source for item in items}),
                         warnings=tuple(_suspicious(rows)))


def _parse(data: bytes, filename: str) -> list[_ParsedRow]:
    limit = settings.IMPORT_MAX_BYTES
    if len(data) > limit:
        raise ImportRejected([RowError(0, f"The file is {len(data):,} bytes, over the limit of "
                                          f"{limit:,} bytes. Split it into smaller files.")])
    text = _decode(data)
    if not text.strip():
        raise ImportRejected([RowError(0, "The file is empty.")])
    rows, errors = [], []
    for row_or_error in _records(text, filename):
        if isinstance(row_or_error, RowError):
            errors.append(row_or_error)
        else:
            row_errors = _validate(row_or_error)
            if row_errors:
                errors.extend(row_errors)
            else:
                rows.append(row_or_error)
    if errors:
        raise ImportRejected(errors)
    if not rows:
        raise ImportRejected([RowError(0, "The file has no items.")])
    return rows


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ImportRejected([RowError(line, "Not valid UTF-8 text. Save the file as UTF-8.")]
                             ) from None


def _records(text: str, filename: str) -> Iterator[_ParsedRow | RowError]:
    lowered = filename.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return _jsonl_records(text)
    if lowered.endswith((".csv", ".tsv")) or not text.lstrip().startswith("{"):
        return _csv_records(text, delimiter="\t" if lowered.endswith(".tsv") else ",")
    return _jsonl_records(text)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in JSON")


def _jsonl_records(text: str) -> Iterator[_ParsedRow | RowError]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_constant=_reject_constant)
        except json.JSONDecodeError as error:  # one line is one document: its line is 1
            yield RowError(number, f"Invalid JSON: {error.msg}.", column=error.colno)
            continue
        except ValueError as error:
            yield RowError(number, f"Invalid JSON: {error}.")
            continue
        if not isinstance(value, dict):
            yield RowError(number, "Each line must be a JSON object.")
            continue
        yield _ParsedRow(number, value)


def _csv_records(text: str, delimiter: str) -> Iterator[_ParsedRow | RowError]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except csv.Error as error:
        yield RowError(1, f"Malformed CSV header: {error}.")
        return
    if problem := _csv_header_problem(header):
        yield RowError(1, problem)
        return
    line = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield RowError(line, f"Malformed CSV: {error}.")
            return
        if any(cell.strip() for cell in record):
            if len(record) != len(header):
                yield RowError(line, f"Expected {len(header)} fields, found {len(record)}.")
            else:
                yield _ParsedRow(line, _csv_values(header, record))
        line = reader.line_num + 1


def _csv_header_problem(header: list[str]) -> str:
    if duplicated := sorted({name for name in header if header.count(name) > 1}):
        return f"Repeated column(s): {', '.join(duplicated)}."
    if missing := [name for name in REQUIRED_FIELDS if name not in header]:
        return f"Missing column(s) {', '.join(missing)} in the header."
    if unknown := [name for name in header if name not in ALLOWED_FIELDS]:
        return (f"Unknown column(s) {', '.join(unknown)}; allowed: "
                f"{', '.join(REQUIRED_FIELDS + OPTIONAL_FIELDS)}.")
    return ""


def _csv_values(header: list[str], record: list[str]) -> dict[str, object]:
    values: dict[str, object] = dict(zip(header, record, strict=True))
    if "metadata" in values:
        raw = str(values["metadata"]).strip()
        try:
            values["metadata"] = (json.loads(raw, parse_constant=_reject_constant)
                                  if raw else {})
        except json.JSONDecodeError as error:
            values["metadata"] = _BadJson(f"{error.msg} (character {error.pos + 1} of the "
                                          "cell)")
        except ValueError as error:
            values["metadata"] = _BadJson(str(error))
    return values


@dataclass(frozen=True)
class _BadJson:
    problem: str


def _validate(row: _ParsedRow) -> list[RowError]:
    values = row.values
    problems = []
    if unknown := sorted(set(values) - ALLOWED_FIELDS):
        problems.append(f"unknown field(s) {', '.join(unknown)} (allowed: "
                        f"{', '.join(REQUIRED_FIELDS + OPTIONAL_FIELDS)})")
    if missing := [name for name in REQUIRED_FIELDS if name not in values]:
        problems.append(f"missing field(s) {', '.join(missing)}")
    for name in REQUIRED_FIELDS:
        if name in values and (problem := _text_problem(name, values)):
            problems.append(problem)
    if problem := _metadata_problem(values):
        problems.append(problem)
    return [RowError(row.line, problem[0].upper() + problem[1:] + ".") for problem in problems]


def _text_problem(name: str, values: dict[str, object]) -> str:
    value = values[name]
    if name in ID_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        value = values[name] = str(value)
    if not isinstance(value, str):
        return f"{name} must be a string, got {type(value).__name__}"
    limit = MAX_ID_CHARS if name in ID_FIELDS else settings.IMPORT_MAX_FIELD_CHARS
    if name in ID_FIELDS:
        value = values[name] = value.strip()
    if "\x00" in value:
        return f"{name} contains a NUL character"
    if not value.strip() and name != "prompt":
        return f"{name} is empty"
    if len(value) > limit:
        return f"{name} has {len(value):,} characters, over the limit of {limit:,}"
    return ""


def _metadata_problem(values: dict[str, object]) -> str:
    metadata = values.get("metadata")
    if metadata is None:
        values["metadata"] = {}
        return ""
    if isinstance(metadata, _BadJson):
        return f"metadata is not valid JSON: {metadata.problem}"
    if not isinstance(metadata, dict):
        return "metadata must be a JSON object"
    if len(json.dumps(metadata)) > settings.IMPORT_MAX_FIELD_CHARS:
        return "metadata is over the size limit"
    return ""


def _external_id_problems(project: Project, rows: list[_ParsedRow]) -> list[RowError]:
    first_line: dict[str, int] = {}
    errors = []
    for row in rows:
        external_id = str(row.values["external_id"])
        if external_id in first_line:
            errors.append(RowError(row.line, f"Duplicate external_id {external_id!r} (first "
                                             f"on line {first_line[external_id]})."))
        else:
            first_line[external_id] = row.line
    existing = _existing_external_ids(project, list(first_line))
    errors.extend(RowError(first_line[external_id], f"external_id {external_id!r} already "
                                                    "exists in this project.")
                  for external_id in sorted(existing, key=first_line.__getitem__))
    return errors


def _group_prompt_problems(project: Project, rows: list[_ParsedRow]) -> list[RowError]:
    """Every item of a group answers the same prompt (raters see one prompt above a pair,
    whatever the sides), in the file and with the group's items already imported."""
    first: dict[str, _ParsedRow] = {}
    existing = _existing_group_prompts(project, {str(row.values["group"]) for row in rows})
    errors = []
    for row in rows:
        group, prompt = str(row.values["group"]), row.values["prompt"]
        if group in existing and prompt != existing[group]:
            errors.append(RowError(row.line, f"group {group!r} already has items in this "
                                             "project with another prompt; every item of a "
                                             "group answers the same prompt."))
        elif group in first and prompt != first[group].values["prompt"]:
            errors.append(RowError(row.line, f"The prompt differs from the one of group "
                                             f"{group!r} on line {first[group].line}; every "
                                             "item of a group answers the same prompt."))
        first.setdefault(group, row)
    return errors


def _existing_group_prompts(project: Project, groups: set[str]) -> dict[str, str]:
    """The prompt of each of ``groups`` that has items already (its first item's)."""
    prompts: dict[str, str] = {}
    ordered = sorted(groups)
    for start in range(0, len(ordered), 1000):
        chunk = ordered[start:start + 1000]
        for group, prompt in (Item.objects.filter(project=project, group__in=chunk)
                              .order_by("-id").values_list("group", "prompt")):
            prompts[group] = prompt  # the lowest id wins: it is written last
    return prompts


FORMULA_PREFIX = "="


def _suspicious(rows: list[_ParsedRow]) -> list[RowError]:
    """Rows that import fine but may not be what the lead meant: text that starts like a
    spreadsheet formula (a file saved from a spreadsheet), or an empty prompt."""
    warnings = []
    for row in rows:
        formula = [name for name in REQUIRED_FIELDS
                   if str(row.values[name]).lstrip().startswith(FORMULA_PREFIX)]
        if formula:
            warnings.append(RowError(row.line, f"{', '.join(formula)} starts with “=”, like a "
                                               "spreadsheet formula: was the file exported "
                                               "with formulas instead of values?"))
        if not str(row.values["prompt"]).strip():
            warnings.append(RowError(row.line, "The prompt is empty: raters see the "
                                               "responses without the question they answer."))
    return warnings


def _existing_external_ids(project: Project, external_ids: list[str]) -> set[str]:
    existing: set[str] = set()
    for start in range(0, len(external_ids), 1000):
        chunk = external_ids[start:start + 1000]
        existing.update(Item.objects.filter(project=project, external_id__in=chunk)
                        .values_list("external_id", flat=True))
    return existing
