"""Dataset exports for a project's leads and reviewers: the rows of each export and their
serialization as CSV or JSONL, streamed.

Kinds (:data:`EXPORTS`):

* ``preferences`` (JSONL): one line per unordered pair of items with at least one decisive
  live judgment, in the ``prompt / chosen / rejected`` shape DPO and reward-model training
  read. ``chosen`` is the item most live judgments preferred; "tie" and "both bad" votes
  are counted (``ties``, ``both_bad``) but favour neither. Pairs whose decisive votes are
  exactly tied are left out unless ``include_tied`` (then the item imported first is
  ``chosen`` and ``agreement`` is 0.5).
* ``judgments`` (CSV, JSONL): one row per pairwise judgment, sides as shown.
* ``annotations`` (CSV, JSONL): one row per fine-grained annotation, one column per rating
  attribute, spans as a JSON array.
* ``item-scores`` (CSV, JSONL): the current successful Bradley-Terry fit's item scores;
  :class:`ExportNotFound` before the first fit.

"Live" is the fits' rule (:data:`annotations.selectors.fits.LIVE_JUDGMENT` and
:data:`annotations.selectors.fine_grained_fits.USABLE_ANNOTATION`): not undone, not
skipped, not rejected by a reviewer, not by a rater excluded from fits.

Every reader streams ``values()`` rows through ``iterator(chunk_size=...)`` and fetches
what a chunk needs (item texts, ratings, spans) per chunk, so memory stays bounded however
large the project. CSV cells a spreadsheet would run as a formula get a leading ``'``
(:func:`annotations.selectors.audit.spreadsheet_safe`). The web download and
``manage.py export`` both write :func:`export_prepare`'s bytes.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, Case, Count, F, Q, QuerySet, Sum, Value, When

from annotations.models import (
    Annotation,
    FitKind,
    FitRun,
    Item,
    Outcome,
    PairwiseJudgment,
    Project,
    Rating,
    RatingAttribute,
    Span,
)
from annotations.selectors.audit import spreadsheet_safe
from annotations.selectors.fine_grained_fits import USABLE_ANNOTATION
from annotations.selectors.fits import LIVE_JUDGMENT, fit_run_current

Row = dict[str, Any]
CHUNK_SIZE = 2_000  # rows per database round trip
FLUSH_CHARS = 64 * 1024  # characters per streamed chunk
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "jsonl": "application/x-ndjson; charset=utf-8"}
NO_FIT = ("No Bradley-Terry fit of this project has succeeded yet, so there are no item "
          "scores to export.")


class ExportError(ValueError):
    """An export that cannot be served as asked; the message says why (HTTP 400)."""


class ExportNotFound(ExportError):
    """No such export, or nothing to export yet (HTTP 404)."""


@dataclass(frozen=True)
class ExportOptions:
    pseudonymize: bool = False  # raters as rater-<hmac> instead of usernames
    live_only: bool = True  # judgments and annotations: only those fits use
    include_tied: bool = False  # preferences: keep pairs whose decisive votes are tied


@dataclass(frozen=True)
class ExportKind:
    """One export. ``rows`` may raise :class:`ExportNotFound` before yielding anything;
    ``options`` names the :class:`ExportOptions` fields that apply to it."""

    name: str
    title: str
    description: str
    formats: tuple[str, ...]
    columns: Callable[[Project], list[str]]
    rows: Callable[[Project, ExportOptions], Iterator[Row]]
    count: Callable[[Project, ExportOptions], int]
    options: tuple[str, ...] = ()
    unavailable: Callable[[Project], str] = lambda project: ""


@dataclass(frozen=True)
class ExportDownload:
    filename: str
    content_type: str
    chunks: Iterator[bytes]


@dataclass(frozen=True)
class ExportEntry:
    """An export as the exports page lists it: rows by default (live) and in all."""

    kind: ExportKind
    rows: int
    all_rows: int | None  # None when the export has no live-only option
    unavailable: str


# --- raters -------------------------------------------------------------------------------

def rater_pseudonym(user_id: int) -> str:
    """``rater-`` and 12 hex digits of HMAC-SHA256(SECRET_KEY, user id): the same rater gets
    the same name in every export, and the name cannot be traced back without the key."""
    digest = hmac.new(settings.SECRET_KEY.encode(), str(user_id).encode(), hashlib.sha256)
    return f"rater-{digest.hexdigest()[:12]}"


def _rater_name(row: Row, options: ExportOptions) -> str:
    return rater_pseudonym(row["rater_id"]) if options.pseudonymize else row["rater__username"]


# --- preferences --------------------------------------------------------------------------

_LOW_WINS = (Q(outcome=Outcome.LEFT, left_item_id=F("pair_low"))
             | Q(outcome=Outcome.RIGHT, right_item_id=F("pair_low")))
_HIGH_WINS = (Q(outcome=Outcome.LEFT, left_item_id=F("pair_high"))
              | Q(outcome=Outcome.RIGHT, right_item_id=F("pair_high")))
PREFERENCE_COLUMNS = ["prompt", "chosen", "rejected", "chosen_id", "rejected_id", "group",
                      "chosen_source", "rejected_source", "votes_chosen", "votes_rejected",
                      "ties", "both_bad", "agreement", "margin"]


def pair_tallies(*, project: Project, include_tied: bool = False) -> QuerySet:
    """Live votes per unordered pair (``pair_low`` < ``pair_high``, item ids), for pairs
    with a decisive vote; without ``include_tied``, only pairs with a majority."""
    tallies = (PairwiseJudgment.objects.filter(LIVE_JUDGMENT, project=project)
               .values("pair_low", "pair_high")
               .annotate(votes_low=Count("id", filter=_LOW_WINS),
                         votes_high=Count("id", filter=_HIGH_WINS),
                         ties=Count("id", filter=Q(outcome=Outcome.TIE)),
                         both_bad=Count("id", filter=Q(outcome=Outcome.BOTH_BAD)),
                         strength_low=Sum("strength", filter=_LOW_WINS),
                         strength_high=Sum("strength", filter=_HIGH_WINS),
                         strength_votes=Count("strength", filter=_LOW_WINS | _HIGH_WINS))
               .filter(Q(votes_low__gt=0) | Q(votes_high__gt=0)))
    if not include_tied:
        tallies = tallies.exclude(votes_low=F("votes_high"))
    return tallies.order_by("pair_low", "pair_high")


def preference_rows(project: Project, options: ExportOptions) -> Iterator[Row]:
    tallies = pair_tallies(project=project, include_tied=options.include_tied)
    for chunk in _batched(tallies.iterator(chunk_size=CHUNK_SIZE), CHUNK_SIZE):
        items = _items_by_id({tally[end] for tally in chunk for end in ("pair_low", "pair_high")},
                             "external_id", "group", "source", "prompt", "content")
        for tally in chunk:
            yield _preference_row(tally, items, with_margin=project.has_strength)


def _preference_row(tally: Row, items: dict[int, Row], *, with_margin: bool) -> Row:
    low_wins = tally["votes_low"] >= tally["votes_high"]  # a tie goes to the first imported
    chosen, rejected = ("low", "high") if low_wins else ("high", "low")
    winner, loser = items[tally[f"pair_{chosen}"]], items[tally[f"pair_{rejected}"]]
    votes_chosen, votes_rejected = tally[f"votes_{chosen}"], tally[f"votes_{rejected}"]
    return {"prompt": winner["prompt"], "chosen": winner["content"],
            "rejected": loser["content"], "chosen_id": winner["external_id"],
            "rejected_id": loser["external_id"], "group": winner["group"],
            "chosen_source": winner["source"], "rejected_source": loser["source"],
            "votes_chosen": votes_chosen, "votes_rejected": votes_rejected,
            "ties": tally["ties"], "both_bad": tally["both_bad"],
            "agreement": votes_chosen / (votes_chosen + votes_rejected),
            "margin": _margin(tally, chosen, rejected) if with_margin else None}


def _margin(tally: Row, chosen: str, rejected: str) -> float | None:
    """Mean strength of the decisive votes, a vote for the rejected item counting negative."""
    if not tally["strength_votes"]:
        return None
    net = (tally[f"strength_{chosen}"] or 0) - (tally[f"strength_{rejected}"] or 0)
    return net / tally["strength_votes"]


def _preference_count(project: Project, options: ExportOptions) -> int:
    return pair_tallies(project=project, include_tied=options.include_tied).count()


# --- judgments ----------------------------------------------------------------------------

_IS_LIVE_JUDGMENT = Case(When(LIVE_JUDGMENT, then=Value(True)), default=Value(False),
                         output_field=BooleanField())
_JUDGMENT_FIELDS = ("id", "created_at", "rater_id", "rater__username", "left_item__external_id",
                    "left_item__source", "right_item__external_id", "right_item__source",
                    "outcome", "strength", "criteria_outcomes", "rationale", "active_seconds",
                    "guideline_version", "selection_strategy", "selection_probability",
                    "review__verdict", "undone_at", "live")


def judgments_for_export(*, project: Project, live_only: bool = True) -> QuerySet:
    judgments = PairwiseJudgment.objects.filter(project=project)
    if live_only:
        judgments = judgments.filter(LIVE_JUDGMENT)
    return judgments.annotate(live=_IS_LIVE_JUDGMENT).order_by("id")


def judgment_columns(project: Project) -> list[str]:
    return ["judgment_id", "created_at", "rater", "left_id", "left_source", "right_id",
            "right_source", "outcome", "winner_id", "strength",
            *(f"criterion:{name}" for name in project.criteria), "rationale",
            "active_seconds", "guideline_version", "selection_strategy",
            "selection_probability", "review_verdict", "undone_at", "live"]


def judgment_rows(project: Project, options: ExportOptions) -> Iterator[Row]:
    judgments = judgments_for_export(project=project, live_only=options.live_only)
    criteria = list(project.criteria)
    for judgment in judgments.values(*_JUDGMENT_FIELDS).iterator(chunk_size=CHUNK_SIZE):
        yield _judgment_row(judgment, criteria, options)


def _judgment_row(judgment: Row, criteria: list[str], options: ExportOptions) -> Row:
    left, right = judgment["left_item__external_id"], judgment["right_item__external_id"]
    verdicts = judgment["criteria_outcomes"] or {}
    return {"judgment_id": judgment["id"], "created_at": _iso(judgment["created_at"]),
            "rater": _rater_name(judgment, options), "left_id": left,
            "left_source": judgment["left_item__source"], "right_id": right,
            "right_source": judgment["right_item__source"], "outcome": judgment["outcome"],
            "winner_id": {Outcome.LEFT: left, Outcome.RIGHT: right}.get(judgment["outcome"]),
            "strength": judgment["strength"],
            **{f"criterion:{name}": verdicts.get(name) for name in criteria},
            "rationale": judgment["rationale"], "active_seconds": judgment["active_seconds"],
            "guideline_version": judgment["guideline_version"],
            "selection_strategy": judgment["selection_strategy"],
            "selection_probability": judgment["selection_probability"],
            "review_verdict": judgment["review__verdict"],
            "undone_at": _iso(judgment["undone_at"]), "live": judgment["live"]}


def _judgment_count(project: Project, options: ExportOptions) -> int:
    return judgments_for_export(project=project, live_only=options.live_only).count()


# --- fine-grained annotations -------------------------------------------------------------

_IS_USABLE_ANNOTATION = Case(When(USABLE_ANNOTATION, then=Value(True)), default=Value(False),
                             output_field=BooleanField())
_ANNOTATION_FIELDS = ("id", "created_at", "rater_id", "rater__username", "item_id",
                      "item__external_id", "item__source", "skipped", "overall_rating",
                      "missing", "missing_note", "rationale", "active_seconds",
                      "guideline_version", "live")


def annotations_for_export(*, project: Project, live_only: bool = True) -> QuerySet:
    annotations = Annotation.objects.filter(project=project)
    if live_only:
        annotations = annotations.filter(USABLE_ANNOTATION)
    return annotations.annotate(live=_IS_USABLE_ANNOTATION).order_by("id")


def _attributes(project: Project) -> list[tuple[int, str]]:
    return list(RatingAttribute.objects.filter(project=project).order_by("position")
                .values_list("id", "name"))


def annotation_columns(project: Project) -> list[str]:
    return ["annotation_id", "created_at", "rater", "item_id", "item_source", "skipped",
            *(f"rating:{name}" for _, name in _attributes(project)), "overall_rating",
            "missing", "missing_note", "rationale", "spans", "active_seconds",
            "guideline_version", "live"]


def annotation_rows(project: Project, options: ExportOptions) -> Iterator[Row]:
    attributes = _attributes(project)
    annotations = annotations_for_export(project=project, live_only=options.live_only)
    rows = annotations.values(*_ANNOTATION_FIELDS).iterator(chunk_size=CHUNK_SIZE)
    for chunk in _batched(rows, CHUNK_SIZE):
        ids = [annotation["id"] for annotation in chunk]
        ratings, spans = _ratings_by_annotation(ids), _spans_by_annotation(ids)
        for annotation in chunk:
            yield _annotation_row(annotation, attributes, ratings[annotation["id"]],
                                  spans[annotation["id"]], options)


def _annotation_row(annotation: Row, attributes: list[tuple[int, str]],
                    ratings: dict[int, int], spans: list[Row], options: ExportOptions) -> Row:
    return {"annotation_id": annotation["id"], "created_at": _iso(annotation["created_at"]),
            "rater": _rater_name(annotation, options),
            "item_id": annotation["item__external_id"],
            "item_source": annotation["item__source"], "skipped": annotation["skipped"],
            **{f"rating:{name}": ratings.get(pk) for pk, name in attributes},
            "overall_rating": annotation["overall_rating"], "missing": annotation["missing"],
            "missing_note": annotation["missing_note"], "rationale": annotation["rationale"],
            "spans": spans, "active_seconds": annotation["active_seconds"],
            "guideline_version": annotation["guideline_version"], "live": annotation["live"]}


def _ratings_by_annotation(ids: list[int]) -> dict[int, dict[int, int]]:
    ratings: dict[int, dict[int, int]] = defaultdict(dict)
    rows = Rating.objects.filter(annotation_id__in=ids).values_list("annotation_id",
                                                                    "attribute_id", "value")
    for annotation_id, attribute_id, value in rows:
        ratings[annotation_id][attribute_id] = value
    return ratings


def _spans_by_annotation(ids: list[int]) -> dict[int, list[Row]]:
    """Spans with the text they cover (code point offsets into the item's content)."""
    rows = list(Span.objects.filter(annotation_id__in=ids)
                .order_by("annotation_id", "start", "end", "id")
                .values("annotation_id", "annotation__item_id", "start", "end",
                        "category__name", "severity", "note"))
    texts = _items_by_id({row["annotation__item_id"] for row in rows}, "content")
    spans: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        content = texts[row["annotation__item_id"]]["content"]
        spans[row["annotation_id"]].append({
            "start": row["start"], "end": row["end"], "category": row["category__name"],
            "severity": row["severity"], "note": row["note"],
            "text": content[row["start"]:row["end"]]})
    return spans


def _annotation_count(project: Project, options: ExportOptions) -> int:
    return annotations_for_export(project=project, live_only=options.live_only).count()


# --- item scores --------------------------------------------------------------------------

ITEM_SCORE_COLUMNS = ["item_id", "group", "source", "score", "se", "rating", "lower", "upper",
                      "rank", "wins", "losses", "ties"]


def _current_fit(project: Project) -> FitRun | None:
    return fit_run_current(project=project, kind=FitKind.BRADLEY_TERRY)


def item_score_rows(project: Project, options: ExportOptions) -> Iterator[Row]:
    """The current fit is chosen now (no fit: :class:`ExportNotFound`); rows stream later."""
    run = _current_fit(project)
    if run is None:
        raise ExportNotFound(NO_FIT)
    return _scores_of(run)


def _scores_of(run: FitRun) -> Iterator[Row]:
    scores = (run.item_scores.order_by(F("rank").asc(nulls_last=True), "-rating", "item_id")
              .values("item__external_id", "item__group", "item__source", "score", "se",
                      "rating", "lower", "upper", "rank", "wins", "losses", "ties"))
    for score in scores.iterator(chunk_size=CHUNK_SIZE):
        yield {"item_id": score.pop("item__external_id"), "group": score.pop("item__group"),
               "source": score.pop("item__source"), **score}


def _item_score_count(project: Project, options: ExportOptions) -> int:
    run = _current_fit(project)
    return run.item_scores.count() if run else 0


def _item_scores_unavailable(project: Project) -> str:
    return "" if _current_fit(project) else NO_FIT


# --- the catalogue ------------------------------------------------------------------------

EXPORTS: dict[str, ExportKind] = {kind.name: kind for kind in (
    ExportKind("preferences", "Preference pairs",
               "One line per pair of responses with a majority of live judgments: prompt, "
               "chosen, rejected, votes, agreement and margin (DPO / reward-model format).",
               ("jsonl",), lambda project: PREFERENCE_COLUMNS, preference_rows,
               _preference_count, options=("include_tied",)),
    ExportKind("judgments", "Judgments",
               "One row per pairwise judgment, sides as shown, with the rater, outcome, "
               "strength, criteria, rationale, active time and review verdict.",
               ("csv", "jsonl"), judgment_columns, judgment_rows, _judgment_count,
               options=("pseudonymize", "live_only")),
    ExportKind("annotations", "Fine-grained annotations",
               "One row per fine-grained annotation: ratings per attribute, overall rating, "
               "missing flag and note, rationale and the marked spans.",
               ("csv", "jsonl"), annotation_columns, annotation_rows, _annotation_count,
               options=("pseudonymize", "live_only")),
    ExportKind("item-scores", "Item scores",
               "The current Bradley-Terry fit: score and standard error, rating with its 95 % "
               "interval, rank by upper bound, wins, losses and ties per item.",
               ("csv", "jsonl"), lambda project: ITEM_SCORE_COLUMNS, item_score_rows,
               _item_score_count, unavailable=_item_scores_unavailable),
)}


def export_kind(name: str) -> ExportKind:
    try:
        return EXPORTS[name]
    except KeyError:
        raise ExportNotFound(f"There is no export called {name!r}; the exports are "
                             f"{', '.join(EXPORTS)}.") from None


def export_catalogue(*, project: Project) -> list[ExportEntry]:
    """Every export with its row counts, for the exports page."""
    return [ExportEntry(kind=kind, rows=kind.count(project, ExportOptions()),
                        all_rows=(kind.count(project, ExportOptions(live_only=False))
                                  if "live_only" in kind.options else None),
                        unavailable=kind.unavailable(project))
            for kind in EXPORTS.values()]


def export_prepare(*, project: Project, kind: str, fmt: str | None = None,
                   options: ExportOptions | None = None) -> ExportDownload:
    """The bytes of an export, streamed, with its file name and content type. Checks (kind,
    format, availability) happen here; the rows are read as the chunks are consumed."""
    export = export_kind(kind)
    fmt = fmt or export.formats[0]
    if fmt not in export.formats:
        raise ExportError(f"The {export.name} export comes as {' or '.join(export.formats)}, "
                          f"not {fmt!r}.")
    rows = export.rows(project, options or ExportOptions())
    lines = (csv_lines(export.columns(project), rows) if fmt == "csv" else jsonl_lines(rows))
    return ExportDownload(filename=f"{_file_stem(project)}-{export.name}.{fmt}",
                          content_type=CONTENT_TYPES[fmt], chunks=_encoded(lines))


# --- serialization ------------------------------------------------------------------------

def csv_lines(columns: list[str], rows: Iterable[Row]) -> Iterator[str]:
    """A header and one line per row; cells a spreadsheet would run as a formula are
    defused, lists and objects are JSON, booleans ``true``/``false``, nulls empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: Iterable[object]) -> str:
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(columns)
    for row in rows:
        yield line(_csv_cell(row[column]) for column in columns)


def _csv_cell(value: object) -> object:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


# Line separators that str.splitlines() (and some JSONL readers) split on; JSON allows them
# raw inside strings, so they are escaped to keep one record per line.
_LINE_BREAKS = re.compile("[\u0085\u2028\u2029]")


def jsonl_lines(rows: Iterable[Row]) -> Iterator[str]:
    for row in rows:
        record = {key: None if isinstance(value, float) and not math.isfinite(value) else value
                  for key, value in row.items()}
        text = json.dumps(record, ensure_ascii=False)
        yield _LINE_BREAKS.sub(lambda match: f"\\u{ord(match.group()):04x}", text) + "\n"


def _encoded(lines: Iterable[str]) -> Iterator[bytes]:
    """UTF-8 in chunks of about ``FLUSH_CHARS``, not one tiny write per line."""
    pending: list[str] = []
    size = 0
    for line in lines:
        pending.append(line)
        size += len(line)
        if size >= FLUSH_CHARS:
            yield "".join(pending).encode()
            pending, size = [], 0
    if pending:
        yield "".join(pending).encode()


# --- helpers ------------------------------------------------------------------------------

def _batched(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _items_by_id(ids: Iterable[int], *fields: str) -> dict[int, Row]:
    rows = Item.objects.filter(pk__in=list(ids)).values("id", *fields)
    return {row["id"]: row for row in rows}


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _file_stem(project: Project) -> str:
    """The slug when it is safe in a header's quoted file name, else the id."""
    return project.slug if re.fullmatch(r"[A-Za-z0-9_-]+", project.slug or "") \
        else str(project.pk)
