"""Reading and exporting the audit log (administrators)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet

from annotations.models import AuditEntry

EXPORT_FIELDS = ("id", "at", "actor", "action", "target_type", "target_id", "target_label",
                 "project_id", "project_name", "before", "after", "ip")
PAGE_SIZE = 100


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    project_id: int | None = None


def audit_entries(selection: AuditFilter) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.all()
    if selection.action:
        entries = entries.filter(action__startswith=selection.action)
    if selection.actor:
        entries = entries.filter(actor_name=selection.actor)
    if selection.project_id is not None:
        entries = entries.filter(project_ref=selection.project_id)
    return entries.order_by("-at", "-id")


def audit_actions() -> list[str]:
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True)
                .distinct())


def audit_export_lines(entries: QuerySet[AuditEntry], fmt: str) -> Iterator[str]:
    """CSV (with a header) or JSONL, one entry per line, streamed (``iterator``)."""
    if fmt == "csv":
        yield _csv_line(EXPORT_FIELDS)
    for entry in entries.iterator(chunk_size=500):
        record = _record(entry)
        if fmt == "csv":
            yield _csv_line([json.dumps(value) if isinstance(value, dict) else
                             "" if value is None else str(value) for value in record.values()])
        else:
            yield json.dumps(record, ensure_ascii=False) + "\n"


def _record(entry: AuditEntry) -> dict[str, object]:
    return {"id": entry.pk, "at": entry.at.isoformat(), "actor": entry.actor_name,
            "action": entry.action, "target_type": entry.target_type,
            "target_id": entry.target_id, "target_label": entry.target_label,
            "project_id": entry.project_ref, "project_name": entry.project_name,
            "before": entry.before, "after": entry.after, "ip": entry.ip}


def _csv_line(values: object) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([spreadsheet_safe(value) for value in values])
    return buffer.getvalue()


def spreadsheet_safe(value: object) -> object:
    """Defuse cells a spreadsheet would run as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
