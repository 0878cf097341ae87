"""Gold questions: import them from a CSV, set the rate they are served at, remove them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.access import Task, project_require_task
from annotations.csv_lines import CsvProblem, csv_dict_lines
from annotations.models import GoldQuestion, GoldSettings, Item, Project
from annotations.services.audit import Actor, audit_record

GOLD_COLUMNS = ("left_external_id", "right_external_id", "expected")
TIE = "tie"
MAX_GOLD_BYTES = 5_000_000
MAX_GOLD_ROWS = 10_000


def gold_import(*, actor: Actor, project: Project, data: bytes) -> int:
    """Import gold pairs from CSV with columns ``left_external_id``, ``right_external_id``,
    ``expected`` (one of the two external ids, or ``tie``) and optionally ``explanation``.
    A pair already in the gold set gets the new answer. All or nothing: any bad row and
    nothing is written; the errors name the rows."""
    project_require_task(project, Task.PAIRWISE)
    rows = _read_rows(data)
    items = {external_id: (pk, group) for external_id, pk, group in
             Item.objects.filter(project=project).values_list("external_id", "pk", "group")}
    questions, errors = [], []
    seen: set[tuple[int, int]] = set()
    for number, row in rows:
        question = _question_from_row(row, items, number, errors)
        if question is None:
            continue
        pair = (question.item_low_id, question.item_high_id)
        if pair in seen:
            errors.append(f"line {number}: this pair appears twice in the file.")
        seen.add(pair)
        questions.append(question)
    if errors:
        raise ValidationError({"file": errors})
    with transaction.atomic():
        for question in questions:
            GoldQuestion.objects.update_or_create(
                project=project, item_low_id=question.item_low_id,
                item_high_id=question.item_high_id,
                defaults={"expected_winner_id": question.expected_winner_id,
                          "explanation": question.explanation, "created_by": actor.user})
        audit_record(actor=actor, action="gold.import", target=None, project=project,
                     label=f"{len(questions)} gold pairs",
                     after={"pairs": [[q.item_low_id, q.item_high_id, q.expected_winner_id]
                                      for q in questions]})
    return len(questions)


def gold_settings_set(*, actor: Actor, project: Project, rate: float) -> GoldSettings:
    project_require_task(project, Task.PAIRWISE)
    if not 0.0 <= rate <= 0.5:
        raise ValidationError({"rate": "The gold rate is between 0 and 0.5 (50 % of tasks)."})
    with transaction.atomic():
        settings, _ = GoldSettings.objects.select_for_update().get_or_create(project=project)
        before = {"rate": settings.rate}
        settings.rate = rate
        settings.save(update_fields=["rate"])
        audit_record(actor=actor, action="gold.rate", target=settings, project=project,
                     before=before, after={"rate": rate})
    return settings


def gold_delete(*, actor: Actor, question: GoldQuestion) -> None:
    with transaction.atomic():
        before = {"item_low": question.item_low_id, "item_high": question.item_high_id,
                  "expected_winner": question.expected_winner_id}
        audit_record(actor=actor, action="gold.delete", target=question,
                     project=question.project, before=before)
        question.delete()


def _read_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """``(file line, row)`` pairs (see annotations/csv_lines.py)."""
    if len(data) > MAX_GOLD_BYTES:
        raise ValidationError({"file": f"The file is over {MAX_GOLD_BYTES:,} bytes."})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValidationError({"file": f"line {line}: the file is not UTF-8 text."}) from None
    try:
        header, rows = csv_dict_lines(text)
    except CsvProblem as problem:
        raise ValidationError({"file": str(problem)}) from None
    missing = [name for name in GOLD_COLUMNS if name not in header]
    if missing:
        raise ValidationError({"file": f"Missing columns: {', '.join(missing)} (the first "
                                       f"line must name the columns {', '.join(GOLD_COLUMNS)})."})
    if not rows:
        raise ValidationError({"file": "The file has no gold pairs."})
    if len(rows) > MAX_GOLD_ROWS:
        raise ValidationError({"file": f"At most {MAX_GOLD_ROWS:,} gold pairs at once."})
    return rows


def _question_from_row(row: dict[str, str], items: dict[str, tuple[int, str]], number: int,
                       errors: list[str]) -> GoldQuestion | None:
    left = (row.get("left_external_id") or "").strip()
    right = (row.get("right_external_id") or "").strip()
    expected = (row.get("expected") or "").strip()
    unknown = [name for name in (left, right) if name not in items]
    if unknown:
        errors.append(f"line {number}: no item with external_id {', '.join(map(repr, unknown))} "
                      "in this project.")
        return None
    if left == right:
        errors.append(f"line {number}: a gold pair needs two different items.")
        return None
    if items[left][1] != items[right][1]:
        errors.append(f"line {number}: {left!r} and {right!r} are in different groups; pairs "
                      "are compared within a group (same prompt).")
        return None
    if expected not in (left, right, TIE):
        errors.append(f"line {number}: expected must be {left!r}, {right!r} or 'tie', "
                      f"not {expected!r}.")
        return None
    low, high = sorted((items[left][0], items[right][0]))
    return GoldQuestion(item_low_id=low, item_high_id=high,
                        expected_winner_id=None if expected == TIE else items[expected][0],
                        explanation=(row.get("explanation") or "").strip())
