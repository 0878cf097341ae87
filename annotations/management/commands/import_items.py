from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.management.commands._project import project_from_argument
from annotations.services.imports import ImportRejected, project_import_items


class Command(BaseCommand):
    help = ("Import items into a project from a JSONL or CSV file (all or nothing). "
            "PROJECT is the project's id or slug.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project")
        parser.add_argument("file", type=Path)

    def handle(self, *args: object, project: str, file: Path, **options: object) -> None:
        target = project_from_argument(project)
        try:
            data = file.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        try:
            summary = project_import_items(project=target, data=data, filename=file.name)
        except ImportRejected as rejected:
            for problem in rejected.errors:
                self.stderr.write(f"{file}: {problem}")
            raise CommandError(f"{rejected.total} problem(s); nothing was imported.") from None
        self.stdout.write(f"{summary.message[:-1]} into {target.name}.")
