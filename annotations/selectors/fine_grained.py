"""Reads for the fine-grained task: its configuration, the next item for a rater, drafts,
and the pieces an item's text is rendered in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection

from annotations.models import (
    Annotation,
    AnnotationDraft,
    Assignment,
    FineGrainedConfig,
    Item,
    Project,
    RatingAttribute,
    SpanCategory,
)

FEWEST_ANNOTATIONS = "fewest_annotations"


@dataclass(frozen=True)
class FineGrainedTask:
    """Everything a fine-grained page needs to know about the project's task."""

    config: FineGrainedConfig | None
    categories: list[SpanCategory]
    attributes: list[RatingAttribute]

    @property
    def configured(self) -> bool:
        return self.config is not None

    @property
    def has_overall(self) -> bool:
        return self.config is not None and self.config.has_overall


@dataclass(frozen=True)
class ItemChoice:
    item_id: int
    strategy: str
    probability: float  # of this item being chosen, for unbiased estimates later


@dataclass(frozen=True)
class TextPiece:
    """A run of an item's text as the browser shows it: ``text`` starts at code point
    ``offset`` of the stored text and stands for ``length`` stored code points. Line breaks
    (CR LF, CR) are pieces of their own because HTML parsing turns them into one LF, and a
    NUL (which HTML parsing drops) is shown as U+FFFD."""

    offset: int
    length: int
    text: str
    special: bool = False  # a line break or NUL: the browser cannot point inside it


def is_fine_grained(project: Project) -> bool:
    return project.is_fine_grained


def fine_grained_task(project: Project) -> FineGrainedTask:
    return FineGrainedTask(
        config=FineGrainedConfig.objects.filter(project=project).first(),
        categories=list(SpanCategory.objects.filter(project=project).order_by("position")),
        attributes=list(RatingAttribute.objects.filter(project=project).order_by("position")),
    )


def item_next_for_rater(*, project: Project, rater: AbstractBaseUser, now: datetime
                        ) -> ItemChoice | None:
    """The next item for ``rater``: one they have not annotated (or skipped), with the
    fewest annotations so far (items leased to other raters right now count as annotated),
    ties broken uniformly at random. ``None`` when nothing is left."""
    now_value = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(_FEWEST_ANNOTATIONS_SQL,
                       [project.pk, project.pk, now_value, rater.pk, project.pk, rater.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    item_id, _count, tied = row
    return ItemChoice(int(item_id), FEWEST_ANNOTATIONS, 1.0 / tied)


def annotation_draft_for_rater(*, rater: AbstractBaseUser, item: Item) -> dict[str, object]:
    draft = AnnotationDraft.objects.filter(rater=rater, item=item).first()
    return dict(draft.data) if draft else {}


_SPECIAL = re.compile(r"\r\n|\r|\x00")


def text_pieces(text: str) -> list[TextPiece]:
    """Split ``text`` so that each piece's length in code points is known to the browser."""
    pieces, position = [], 0
    for match in _SPECIAL.finditer(text):
        if match.start() > position:
            pieces.append(TextPiece(position, match.start() - position,
                                    text[position:match.start()]))
        shown = "\ufffd" if match.group() == "\x00" else "\n"
        pieces.append(TextPiece(match.start(), len(match.group()), shown, special=True))
        position = match.end()
    if position < len(text):
        pieces.append(TextPiece(position, len(text) - position, text[position:]))
    return pieces


_ANNOTATION = Annotation._meta.db_table
_ASSIGNMENT = Assignment._meta.db_table
_ITEM = Item._meta.db_table

_FEWEST_ANNOTATIONS_SQL = f"""
WITH annotated AS (
    SELECT item_id, COUNT(*) AS n FROM {_ANNOTATION}
    WHERE project_id = %s AND NOT skipped
    GROUP BY item_id
), leased AS (
    SELECT left_item_id AS item_id, COUNT(*) AS n FROM {_ASSIGNMENT}
    WHERE project_id = %s AND status = 'open' AND expires_at > %s AND rater_id <> %s
          AND right_item_id IS NULL
    GROUP BY left_item_id
), candidates AS (
    SELECT i.id, COALESCE(annotated.n, 0) + COALESCE(leased.n, 0) AS n
    FROM {_ITEM} i
    LEFT JOIN annotated ON annotated.item_id = i.id
    LEFT JOIN leased ON leased.item_id = i.id
    WHERE i.project_id = %s AND NOT EXISTS (
        SELECT 1 FROM {_ANNOTATION} mine WHERE mine.item_id = i.id AND mine.rater_id = %s)
)
SELECT id, n, COUNT(*) OVER (PARTITION BY n) AS tied
FROM candidates
ORDER BY n, RANDOM()
LIMIT 1
"""
