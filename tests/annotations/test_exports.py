"""Dataset exports: preference pairs, the judgments and annotations tables, item scores; the
page, the streamed downloads, the ``export`` command, pseudonyms and CSV injection."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from annotations.models import (
    FitKind,
    FitRun,
    FitStatus,
    FitTrigger,
    ItemScore,
    JudgmentReview,
    Outcome,
    PairwiseJudgment,
    ReviewVerdict,
    Role,
)
from annotations.selectors import exports
from annotations.selectors.exports import ExportOptions, export_prepare, rater_pseudonym
from annotations.services.fine_grained import SpanInput, annotation_submit
from tests.annotations.fine_grained_setup import make_fine_grained
from tests.annotations.helpers import table_counts
from tests.annotations.test_fine_grained import ids, serve, valid_answer
from tests.factories import ItemFactory, MembershipFactory, UserFactory

HOSTILE = ("=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR")


# --- a small project with every kind of judgment ------------------------------------------

@pytest.fixture
def scaled(project):
    project.strength_scale = ["slightly", "clearly", "much"]
    project.allow_both_bad = True
    project.save()
    return project


@pytest.fixture
def catalog(scaled):
    """Group g1: a, b, c; group g2: d, e (ids ascending in that order)."""
    return {name: ItemFactory(project=scaled, external_id=f"item-{name}", group=group,
                              source=f"model-{name}", prompt=f"prompt {group}",
                              content=f"answer {name}")
            for name, group in (("a", "g1"), ("b", "g1"), ("c", "g1"), ("d", "g2"),
                                ("e", "g2"))}


def rater(project, username: str, **membership: object):
    user = UserFactory(username=username)
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR, **membership)
    return user


def vote(user, left, right, outcome: str, strength: int | None = None,
         **fields: object) -> PairwiseJudgment:
    """A judgment of ``left`` against ``right`` as shown."""
    return PairwiseJudgment.objects.create(
        project=left.project, rater=user, left_item=left, right_item=right,
        pair_low=min(left.pk, right.pk), pair_high=max(left.pk, right.pk), outcome=outcome,
        strength=strength, active_seconds=4.5, guideline_version=1, selection_strategy="test",
        idempotency_key=uuid.uuid4(), **fields)


@pytest.fixture
def judged(scaled, catalog):
    """(a, b): a wins 2-1 (strengths 3, 1 against 2), one tie, one "both bad"; an excluded
    rater's two votes for b do not count. (a, c): 1-1, tied. (b, c): no decisive vote.
    (d, e): d wins 1-0; e's votes were undone or rejected; a skip."""
    a, b, c, d, e = (catalog[name] for name in "abcde")
    alice, bob, carol = (rater(scaled, name) for name in ("alice.smith", "bob.jones",
                                                          "carol.white"))
    excluded = rater(scaled, "xavier.excluded", excluded_from_fits=True)
    vote(alice, a, b, Outcome.LEFT, 3, criteria_outcomes={"Helpfulness": "left"},
         rationale="A is clearer.")
    vote(bob, b, a, Outcome.RIGHT, 1)
    vote(carol, b, a, Outcome.LEFT, 2)
    vote(alice, b, a, Outcome.TIE)
    vote(bob, a, b, Outcome.BOTH_BAD)
    vote(excluded, a, b, Outcome.RIGHT, 3)
    vote(excluded, b, a, Outcome.LEFT, 3)
    vote(alice, c, a, Outcome.LEFT, 1)
    vote(bob, a, c, Outcome.LEFT, 1)
    vote(alice, b, c, Outcome.BOTH_BAD)
    vote(bob, c, b, Outcome.TIE)
    vote(alice, d, e, Outcome.LEFT, 2)
    vote(bob, e, d, Outcome.LEFT, 3, undone_at=timezone.now())
    rejected = vote(carol, d, e, Outcome.RIGHT, 3)
    JudgmentReview.objects.create(judgment=rejected, reviewer=UserFactory(username="rev"),
                                  verdict=ReviewVerdict.REJECTED, reason="random clicking")
    vote(carol, e, d, Outcome.SKIP)
    return scaled


def exported(project, kind: str, fmt: str | None = None, **options: bool) -> str:
    download = export_prepare(project=project, kind=kind, fmt=fmt,
                              options=ExportOptions(**options))
    return b"".join(download.chunks).decode()


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# --- preference pairs ---------------------------------------------------------------------

def test_preferences_count_live_majorities_only(judged):
    lines = jsonl(exported(judged, "preferences"))
    assert lines == [
        {"prompt": "prompt g1", "chosen": "answer a", "rejected": "answer b",
         "chosen_id": "item-a", "rejected_id": "item-b", "group": "g1",
         "chosen_source": "model-a", "rejected_source": "model-b", "votes_chosen": 2,
         "votes_rejected": 1, "ties": 1, "both_bad": 1, "agreement": pytest.approx(2 / 3),
         "margin": pytest.approx((3 + 1 - 2) / 3)},
        {"prompt": "prompt g2", "chosen": "answer d", "rejected": "answer e",
         "chosen_id": "item-d", "rejected_id": "item-e", "group": "g2",
         "chosen_source": "model-d", "rejected_source": "model-e", "votes_chosen": 1,
         "votes_rejected": 0, "ties": 0, "both_bad": 0, "agreement": 1.0, "margin": 2.0},
    ]


def test_tied_pairs_are_kept_on_request_with_the_first_imported_item_chosen(judged):
    lines = jsonl(exported(judged, "preferences", include_tied=True))
    assert [(line["chosen_id"], line["rejected_id"]) for line in lines] == [
        ("item-a", "item-b"), ("item-a", "item-c"), ("item-d", "item-e")]
    tied = lines[1]
    assert (tied["votes_chosen"], tied["votes_rejected"], tied["agreement"]) == (1, 1, 0.5)
    assert tied["margin"] == 0.0


def test_margin_is_null_without_a_strength_scale(judged):
    judged.strength_scale = []
    judged.save()
    assert {line["margin"] for line in jsonl(exported(judged, "preferences"))} == {None}


def test_preferences_stream_in_chunks_with_a_bounded_number_of_queries(
        judged, monkeypatch, django_assert_num_queries):
    whole = exported(judged, "preferences", include_tied=True)
    monkeypatch.setattr(exports, "CHUNK_SIZE", 1)
    download = export_prepare(project=judged, kind="preferences",
                              options=ExportOptions(include_tied=True))
    with django_assert_num_queries(4):  # the tallies, then the items of each chunk
        assert b"".join(download.chunks).decode() == whole


# --- the judgments table ------------------------------------------------------------------

def test_judgments_table_has_one_row_per_live_judgment_with_sides_as_shown(judged):
    rows = csv_rows(exported(judged, "judgments", "csv"))
    assert len(rows) == 10  # 15 less two by the excluded rater, undone, rejected, skip
    first = rows[0]
    assert first == {
        "judgment_id": first["judgment_id"], "created_at": first["created_at"],
        "rater": "alice.smith", "left_id": "item-a", "left_source": "model-a",
        "right_id": "item-b", "right_source": "model-b", "outcome": "left",
        "winner_id": "item-a", "strength": "3", "criterion:Helpfulness": "left",
        "criterion:Tone": "", "rationale": "A is clearer.", "active_seconds": "4.5",
        "guideline_version": "1", "selection_strategy": "test", "selection_probability": "",
        "review_verdict": "", "undone_at": "", "live": "true"}
    assert rows[1]["left_id"] == "item-b"
    assert rows[1]["winner_id"] == "item-a"
    assert {row["live"] for row in rows} == {"true"}
    assert "xavier.excluded" not in {row["rater"] for row in rows}


def test_judgments_table_with_everything_marks_what_is_not_live(judged):
    rows = jsonl(exported(judged, "judgments", "jsonl", live_only=False))
    assert len(rows) == PairwiseJudgment.objects.filter(project=judged).count() == 15
    not_live = [row for row in rows if not row["live"]]
    assert len(not_live) == 5  # two excluded, one undone, one rejected, one skip
    assert {row["outcome"] for row in not_live} >= {Outcome.SKIP}
    assert [row["review_verdict"] for row in not_live].count("rejected") == 1
    assert sum(row["undone_at"] is not None for row in not_live) == 1
    assert rows[0]["strength"] == 3
    assert rows[0]["criterion:Tone"] is None


def test_pseudonyms_are_stable_and_do_not_reveal_usernames(judged):
    first = exported(judged, "judgments", "csv", pseudonymize=True, live_only=False)
    assert first == exported(judged, "judgments", "csv", pseudonymize=True, live_only=False)
    for username in ("alice.smith", "bob.jones", "carol.white", "xavier.excluded"):
        assert username not in first
    alice = PairwiseJudgment.objects.filter(project=judged).order_by("id").first().rater
    names = {row["rater"] for row in csv_rows(first)}
    assert rater_pseudonym(alice.pk) in names
    assert len(names) == 4
    assert all(name.startswith("rater-") and len(name) == 18 for name in names)


def test_pseudonyms_depend_on_the_secret_key(settings):
    before = rater_pseudonym(7)
    settings.SECRET_KEY = "another-secret"
    assert rater_pseudonym(7) != before


# --- CSV injection ------------------------------------------------------------------------

def test_csv_cells_that_a_spreadsheet_would_run_are_defused(scaled):
    items = [ItemFactory(project=scaled, external_id=text, source=text, group="g")
             for text in HOSTILE[:2]]
    author = rater(scaled, "@mallory")
    vote(author, items[0], items[1], Outcome.LEFT, 1, rationale=HOSTILE[2])
    rows = list(csv.reader(io.StringIO(exported(scaled, "judgments", "csv"), newline="")))
    header, row = rows
    cells = dict(zip(header, row, strict=True))
    assert cells["rater"] == "'@mallory"
    assert cells["left_id"] == cells["left_source"] == cells["winner_id"] == "'" + HOSTILE[0]
    assert cells["right_id"] == "'" + HOSTILE[1]
    assert cells["rationale"] == "'" + HOSTILE[2]
    jsonl_row = jsonl(exported(scaled, "judgments", "jsonl"))[0]
    assert jsonl_row["left_id"] == HOSTILE[0]  # JSONL carries the data unchanged


@pytest.mark.parametrize("text", HOSTILE)
def test_every_dangerous_first_character_is_escaped(text):
    _header, line = exports.csv_lines(["cell"], [{"cell": text}])
    assert next(csv.reader(io.StringIO(line, newline=""))) == ["'" + text]


def test_numbers_and_harmless_text_are_left_alone():
    lines = list(exports.csv_lines(["a", "b", "c", "d"],
                                   [{"a": -0.5, "b": "plain", "c": None, "d": [1, 2]}]))
    assert lines[1] == "-0.5,plain,,\"[1, 2]\"\r\n"


def test_jsonl_keeps_one_record_per_line_whatever_the_text():
    text = "line\u2028separator\u2029and\x85next\nnewline"
    lines = list(exports.jsonl_lines([{"content": text}]))
    assert len(lines) == 1
    assert len(lines[0].splitlines()) == 1
    assert json.loads(lines[0]) == {"content": text}


# --- fine-grained annotations -------------------------------------------------------------

@pytest.fixture
def annotated(project):
    fine = make_fine_grained(project)
    for index in range(2):
        ItemFactory(project=fine, external_id=f"text-{index}", content="Hello brave new world.")
    alice = rater(fine, "alice.smith")
    categories, _ = ids(fine)
    spans = (SpanInput(start=6, end=11, category=categories["Hallucination"].pk,
                       severity="major", note="not brave"),)
    annotation_submit(assignment=serve(fine, alice), answer=valid_answer(fine, spans=spans))
    annotation_submit(assignment=serve(fine, alice),
                      answer=valid_answer(fine, spans=(), skipped=True, overall=None,
                                          ratings={}, rationale=""))
    return fine


def test_annotations_table_has_ratings_as_columns_and_spans_as_json(annotated):
    text = exported(annotated, "annotations", "csv")
    (row,) = csv_rows(text)
    assert row["rater"] == "alice.smith"
    assert row["item_id"] in ("text-0", "text-1")
    assert (row["rating:Helpfulness"], row["rating:Correctness"]) == ("3", "0")
    assert row["overall_rating"] == "4"
    assert row["missing"] == "false"
    assert row["skipped"] == "false"
    assert row["live"] == "true"
    assert json.loads(row["spans"]) == [{"start": 6, "end": 11, "category": "Hallucination",
                                         "severity": "major", "note": "not brave",
                                         "text": "brave"}]
    (line,) = jsonl(exported(annotated, "annotations", "jsonl"))
    assert line["spans"][0]["text"] == "brave"
    assert line["rating:Helpfulness"] == 3


def test_skipped_annotations_and_excluded_raters_only_with_everything(annotated):
    everything = jsonl(exported(annotated, "annotations", "jsonl", live_only=False))
    assert [(row["skipped"], row["live"]) for row in everything] == [(False, True),
                                                                     (True, False)]
    assert everything[1]["rating:Helpfulness"] is None
    assert everything[1]["spans"] == []
    annotated.memberships.update(excluded_from_fits=True)
    assert exported(annotated, "annotations", "jsonl") == ""


def test_annotations_export_reads_per_chunk(annotated, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 1)
    download = export_prepare(project=annotated, kind="annotations", fmt="jsonl",
                              options=ExportOptions(live_only=False))
    # attributes, annotations; per chunk ratings and spans (and the texts of marked items)
    with django_assert_num_queries(2 + 2 * 2 + 1):
        assert len(b"".join(download.chunks).splitlines()) == 2


# --- item scores --------------------------------------------------------------------------

def fit_with_scores(project, items) -> FitRun:
    run = FitRun.objects.create(project=project, kind=FitKind.BRADLEY_TERRY, data_version=1,
                                status=FitStatus.SUCCEEDED, trigger=FitTrigger.MANUAL)
    for rank, (item, score) in enumerate(zip(items, (0.8, -0.5), strict=False), start=1):
        ItemScore.objects.create(run=run, item=item, score=score, se=0.2,
                                 rating=1000 + 100 * score, lower=950, upper=1100, rank=rank,
                                 n=4, wins=3, losses=1, ties=0.5)
    return run


def test_item_scores_come_from_the_current_fit(judged, catalog):
    fit_with_scores(judged, [catalog["a"], catalog["b"]])
    rows = csv_rows(exported(judged, "item-scores"))
    assert [(row["item_id"], row["score"], row["rank"]) for row in rows] == [
        ("item-a", "0.8", "1"), ("item-b", "-0.5", "2")]
    assert list(rows[0]) == ["item_id", "group", "source", "score", "se", "rating", "lower",
                             "upper", "rank", "wins", "losses", "ties"]


def test_without_a_fit_item_scores_are_404_and_the_page_disables_the_link(
        client_for, lead, judged):
    client = client_for(lead)
    response = client.get(reverse("project-export", args=[judged.pk, "item-scores"]))
    assert response.status_code == 404
    assert "No Bradley-Terry fit" in response.content.decode()
    page = client.get(reverse("project-exports", args=[judged.pk])).content.decode()
    assert "No Bradley-Terry fit" in page
    assert 'aria-disabled="true"' in page
    assert reverse("project-export", args=[judged.pk, "item-scores"]) not in page
    with pytest.raises(CommandError, match="No Bradley-Terry fit"):
        call_command("export", judged.slug, "item-scores")


# --- over HTTP ----------------------------------------------------------------------------

def download(client, project, kind: str, **params: str):
    return client.get(reverse("project-export", args=[project.pk, kind]), params)


def test_download_is_streamed_with_a_file_name_and_type(client_for, lead, judged):
    response = download(client_for(lead), judged, "judgments", format="csv")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == \
        f'attachment; filename="{judged.slug}-judgments.csv"'
    body = b"".join(response.streaming_content).decode()
    assert body == exported(judged, "judgments", "csv")
    response = download(client_for(lead), judged, "preferences")
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"].endswith(f'"{judged.slug}-preferences.jsonl"')


def test_query_parameters_choose_the_options(client_for, lead, judged):
    response = download(client_for(lead), judged, "judgments", format="jsonl",
                        pseudonymize="1", live_only="0")
    body = b"".join(response.streaming_content).decode()
    assert body == exported(judged, "judgments", "jsonl", pseudonymize=True, live_only=False)
    assert "alice.smith" not in body


def test_the_command_writes_the_same_bytes_as_the_download(client_for, lead, judged, tmp_path):
    response = download(client_for(lead), judged, "judgments", format="csv", pseudonymize="1",
                        live_only="0")
    out = tmp_path / "judgments.csv"
    call_command("export", judged.slug, "judgments", "--format", "csv", "--out", str(out),
                 "--pseudonymize", "--all")
    assert out.read_bytes() == b"".join(response.streaming_content)
    assert not (tmp_path / "judgments.csv.partial").exists()
    stdout = io.StringIO()
    call_command("export", str(judged.pk), "preferences", "--include-tied", stdout=stdout)
    web = download(client_for(lead), judged, "preferences", include_tied="1")
    assert stdout.getvalue().encode() == b"".join(web.streaming_content)


@pytest.mark.parametrize(("args", "message"), [
    (["no-such-project", "judgments"], "No project with id or slug 'no-such-project'"),
    (["{slug}", "preferences", "--format", "csv"], "comes as jsonl, not 'csv'"),
    (["{slug}", "nonsense"], "invalid choice: 'nonsense'"),
])
def test_the_command_reports_bad_requests_clearly(judged, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export", *(arg.format(slug=judged.slug) for arg in args))


@pytest.mark.parametrize(("kind", "params", "status", "message"), [
    ("nonsense", {}, 404, "There is no export called 'nonsense'"),
    ("nonsense", {"format": "xml"}, 404, "There is no export called 'nonsense'"),
    ("judgments", {"format": "xml"}, 400, "comes as csv or jsonl, not 'xml'"),
    ("preferences", {"format": "csv"}, 400, "comes as jsonl, not 'csv'"),
    ("judgments", {"pseudonymize": "maybe"}, 400, "pseudonymize must be 1 or 0"),
])
def test_bad_requests_say_why_and_change_nothing(client_for, lead, judged, kind, params, status,
                                                  message):
    before = table_counts()
    response = download(client_for(lead), judged, kind, **params)
    assert response.status_code == status
    assert message in response.content.decode()
    assert table_counts() == before


def test_the_page_lists_exports_with_row_counts(client_for, lead, judged):
    html = client_for(lead).get(reverse("project-exports", args=[judged.pk])).content.decode()
    for kind in ("preferences", "judgments", "annotations"):
        assert reverse("project-export", args=[judged.pk, kind]) in html
    assert "<strong>2</strong> rows" in html  # preference pairs
    assert "<strong>10</strong> rows" in html
    assert "(15 including data that is not live)" in html
    assert 'name="pseudonymize"' in html
    assert 'name="live_only" value="0"' in html
    detail = client_for(lead).get(reverse("project-detail", args=[judged.pk])).content.decode()
    assert reverse("project-exports", args=[judged.pk]) in detail


def test_reviewers_may_export(client, judged):
    reviewer = UserFactory(username="reviewer")
    MembershipFactory(project=judged, user=reviewer, role=Role.REVIEWER)
    client.force_login(reviewer)
    assert download(client, judged, "preferences").status_code == 200
    assert client.get(reverse("project-exports", args=[judged.pk])).status_code == 200


@pytest.mark.parametrize("name", ["project-exports", "project-export"])
def test_annotators_and_outsiders_are_refused(client_for, annotator, outsider, judged, name):
    kwargs = {"project_id": judged.pk} | ({"kind": "judgments"} if name == "project-export"
                                          else {})
    before = table_counts()
    assert client_for(annotator).get(reverse(name, kwargs=kwargs)).status_code == 403
    assert client_for(outsider).get(reverse(name, kwargs=kwargs)).status_code == 404
    assert table_counts() == before
