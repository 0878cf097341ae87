"""The dependency rules of DESIGN.md, checked mechanically."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBUG": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_web_process_does_not_import_torch():
    result = python(
        "import django, sys; django.setup(); import feedback.urls, feedback.wsgi; "
        "from django.test import Client; "
        "import annotations.services.judgments, annotations.tasks; "
        "print('torch' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_modeling_cli_help_does_not_import_torch():
    result = python("import sys; from modeling.cli import build_parser; build_parser(); "
                    "print('torch' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
