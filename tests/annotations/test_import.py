"""Importing items: a good file creates everything; any bad row writes nothing."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from annotations.models import Item
from annotations.services.imports import ImportRejected, project_import_items
from tests.factories import ItemFactory


def row(external_id: str, **overrides: object) -> dict[str, object]:
    values = {"external_id": external_id, "group": "g1", "source": "model-a",
              "prompt": "Say hi", "content": f"Hi from {external_id}"}
    values.update(overrides)
    return values


def jsonl(*rows: dict[str, object]) -> bytes:
    return "\n".join(json.dumps(value) for value in rows).encode()


GOOD_CSV = (
    b"external_id,group,source,prompt,content,metadata\n"
    b'a1,g1,model-a,Say hi,"Hello, world",{"lang": "en"}\n'
    b'a2,g1,model-b,Say hi,"Multi\nline answer",\n'
)


def test_jsonl_import_creates_all_items(project):
    summary = project_import_items(project=project, filename="items.jsonl", data=jsonl(
        row("a1", metadata={"temperature": 0.7}), row("a2", source="model-b"),
        row("b1", group="g2")))
    assert (summary.created, summary.groups, summary.sources) == (3, 2, 2)
    assert Item.objects.get(project=project, external_id="a1").metadata == {"temperature": 0.7}


def test_csv_import_with_quoted_multiline_fields(project):
    summary = project_import_items(project=project, data=GOOD_CSV, filename="items.csv")
    assert summary.created == 2
    assert Item.objects.get(external_id="a2").content == "Multi\nline answer"
    assert Item.objects.get(external_id="a1").metadata == {"lang": "en"}


def test_numeric_ids_are_accepted_as_strings(project):
    project_import_items(project=project, filename="x.jsonl",
                         data=jsonl({**row("x"), "external_id": 17, "group": 3}))
    item = Item.objects.get(project=project)
    assert (item.external_id, item.group) == ("17", "3")


BAD_FILES = {
    "missing field": (jsonl(row("a1"), {"external_id": "a2", "group": "g", "source": "s",
                                        "prompt": "p"}), "items.jsonl", 2, "Missing field"),
    "duplicate external_id": (jsonl(row("a1"), row("a2"), row("a1")), "items.jsonl", 3,
                              "Duplicate external_id 'a1' (first on line 1)"),
    "invalid json": (b'{"external_id": "a1"}\n{not json}\n', "items.jsonl", 2, "Invalid JSON"),
    "not an object": (jsonl(row("a1")) + b"\n[1, 2]", "items.jsonl", 2, "JSON object"),
    "wrong encoding": (jsonl(row("a1")) + b"\n" + '{"x": "caf\u00e9"}'.encode("latin-1"),
                       "items.jsonl", 2, "UTF-8"),
    "empty content": (jsonl(row("a1"), row("a2", content="   ")), "items.jsonl", 2,
                      "Content is empty"),
    "unknown field": (jsonl(row("a1", colour="red")), "items.jsonl", 1, "Unknown field"),
    "metadata not an object": (jsonl(row("a1", metadata=[1])), "items.jsonl", 1,
                               "Metadata must be a JSON object"),
    "content not a string": (jsonl(row("a1", content={"x": 1})), "items.jsonl", 1,
                             "Content must be a string"),
    "NaN in metadata": (b'{"external_id": "a", "group": "g", "source": "s", "prompt": "p", '
                        b'"content": "c", "metadata": {"x": NaN}}', "items.jsonl", 1,
                        "Invalid JSON"),
    "NUL character": (jsonl(row("a1", content="a\x00b")), "items.jsonl", 1, "NUL"),
    "csv missing column": (b"external_id,group,source,content\na,g,s,c\n", "items.csv", 1,
                           "Missing column(s) prompt"),
    "csv bad metadata": (b"external_id,group,source,prompt,content,metadata\n"
                         b"a,g,s,p,c,{oops}\n", "items.csv", 2, "Metadata is not valid JSON"),
    "csv ragged row": (b"external_id,group,source,prompt,content\na,g,s,p,c\nb,g,s,p\n",
                       "items.csv", 3, "Expected 5 fields, found 4"),
    "csv unknown column": (b"external_id,group,source,prompt,content,score\na,g,s,p,c,1\n",
                           "items.csv", 1, "Unknown column(s) score"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_reports_line_and_writes_nothing(project, case):
    data, filename, line, message = BAD_FILES[case]
    with pytest.raises(ImportRejected) as rejected:
        project_import_items(project=project, data=data, filename=filename)
    assert any(error.line == line and message in error.message
               for error in rejected.value.errors), rejected.value.errors
    assert not Item.objects.exists()


def test_external_id_already_in_project_is_rejected(project):
    ItemFactory(project=project, external_id="a2", prompt="Say hi")
    with pytest.raises(ImportRejected) as rejected:
        project_import_items(project=project, filename="x.jsonl",
                             data=jsonl(row("a1"), row("a2")))
    assert [(e.line, "already exists" in e.message) for e in rejected.value.errors] == [(2, True)]
    assert Item.objects.count() == 1


def test_same_external_id_in_another_project_is_fine(project, outsider):
    other = outsider.memberships.get().project
    ItemFactory(project=other, external_id="a1")
    assert project_import_items(project=project, filename="x.jsonl",
                                data=jsonl(row("a1"))).created == 1


@override_settings(IMPORT_MAX_BYTES=100)
def test_file_over_the_size_limit(project):
    with pytest.raises(ImportRejected, match="over the limit"):
        project_import_items(project=project, filename="x.jsonl",
                             data=jsonl(row("a1"), row("a2")))
    assert not Item.objects.exists()


@override_settings(IMPORT_MAX_FIELD_CHARS=50)
def test_field_over_the_size_limit(project):
    with pytest.raises(ImportRejected) as rejected:
        project_import_items(project=project, filename="x.jsonl",
                             data=jsonl(row("a1"), row("a2", content="x" * 51)))
    assert rejected.value.errors[0].line == 2
    assert not Item.objects.exists()


def test_all_errors_are_listed_not_just_the_first(project):
    data = jsonl(row("a1", content=""), row("a2"), row("a3", source=""))
    with pytest.raises(ImportRejected) as rejected:
        project_import_items(project=project, data=data, filename="x.jsonl")
    assert [error.line for error in rejected.value.errors] == [1, 3]


def test_empty_file(project):
    with pytest.raises(ImportRejected, match="empty"):
        project_import_items(project=project, data=b"\n\n", filename="x.jsonl")


def test_upload_page_lists_errors_and_writes_nothing(client_for, lead, project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("items.jsonl", jsonl(row("a1"), row("a1")))
    response = client_for(lead).post(reverse("project-import", args=[project.pk]),
                                     {"file": upload})
    assert response.status_code == 422
    assert "Nothing was imported" in response.content.decode()
    assert "line 2: Duplicate external_id" in response.content.decode()
    assert not Item.objects.exists()


def test_upload_page_imports_a_good_file(client_for, lead, project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("items.csv", GOOD_CSV)
    response = client_for(lead).post(reverse("project-import", args=[project.pk]),
                                     {"file": upload})
    assert response.status_code == 302
    assert Item.objects.filter(project=project).count() == 2


def test_management_command_imports_by_slug(project, tmp_path, capsys):
    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl(row("a1"), row("a2")))
    call_command("import_items", project.slug, str(path))
    assert "Imported 2 items" in capsys.readouterr().out
    assert Item.objects.filter(project=project).count() == 2


def test_management_command_rejects_bad_file_with_line_numbers(project, tmp_path, capsys):
    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl(row("a1"), row("a2", group="")))
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_items", str(project.pk), str(path))
    assert "line 2: Group is empty" in capsys.readouterr().err
    assert not Item.objects.exists()


def test_management_command_unknown_project(db, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl(row("a1")))
    with pytest.raises(CommandError, match="No project"):
        call_command("import_items", "nope", str(path))
