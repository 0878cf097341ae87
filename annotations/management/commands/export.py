"""``python manage.py export PROJECT KIND [--format csv|jsonl] [--out FILE]``: the same bytes
as the download on the project's exports page."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.management.commands._project import project_from_argument
from annotations.selectors.exports import (
    EXPORTS,
    ExportDownload,
    ExportError,
    ExportOptions,
    export_prepare,
)


class Command(BaseCommand):
    help = ("Export a project's data as on its exports page: preferences, judgments, "
            "annotations or item-scores. PROJECT is the project's id or slug.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project id or slug.")
        parser.add_argument("kind", choices=list(EXPORTS))
        parser.add_argument("--format", dest="fmt", choices=["csv", "jsonl"],
                            help="Default: the export's first format (jsonl for preferences, "
                                 "csv otherwise).")
        parser.add_argument("--out", type=Path, help="Write to this file instead of stdout.")
        parser.add_argument("--pseudonymize", action="store_true",
                            help="Raters as rater-<hmac> instead of their usernames.")
        parser.add_argument("--all", dest="all_rows", action="store_true",
                            help="Also judgments and annotations that are not live (undone, "
                                 "skipped, rejected, or by raters excluded from fits).")
        parser.add_argument("--include-tied", action="store_true",
                            help="Preferences: keep pairs whose decisive votes are tied.")

    def handle(self, *args: object, project: str, kind: str, fmt: str | None,
               out: Path | None, pseudonymize: bool, all_rows: bool, include_tied: bool,
               **options: object) -> None:
        choices = ExportOptions(pseudonymize=pseudonymize, live_only=not all_rows,
                                include_tied=include_tied)
        try:
            download = export_prepare(project=project_from_argument(project), kind=kind,
                                      fmt=fmt, options=choices)
        except ExportError as problem:
            raise CommandError(str(problem)) from None
        if out is None:
            for chunk in download.chunks:
                self.stdout.write(chunk.decode(), ending="")
            return
        _write_file(download, out)
        self.stderr.write(f"Wrote {out}.")


def _write_file(download: ExportDownload, out: Path) -> None:
    """Write next to ``out`` and rename when complete, so a failed export leaves no
    truncated file behind."""
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("wb") as file:
            for chunk in download.chunks:
                file.write(chunk)
        partial.replace(out)
    except OSError as error:
        raise CommandError(f"Cannot write {out}: {error.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)

