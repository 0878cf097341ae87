"""``python -m modeling COMMAND ...``: fit a model on a long-format CSV file.

Every command prints one JSON summary on standard output and writes its result files only
when the fit succeeded. Malformed input is reported as ``FILE:LINE: problem`` on standard
error with exit code 2, and no output file is created. Command modules import torch lazily,
inside ``run``, so ``--help`` and input errors stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence

from modeling.errors import InputError, ModelError

COMMANDS: dict[str, str] = {
    "bt": "modeling.cli.bt",
    "ds": "modeling.cli.ds",
    "rasch": "modeling.cli.rasch",
    "facets": "modeling.cli.facets",
    "alpha": "modeling.cli.alpha",
}

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modeling", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, module_path in COMMANDS.items():
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as error:
            if error.name != module_path:
                raise
            continue  # command not implemented yet
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        summary = args.run(args)
    except (InputError, ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    summary.setdefault("seconds", round(time.perf_counter() - started, 6))
    print(json.dumps(summary, default=_json_default))
    return 0


def _json_default(value: object) -> object:
    # numpy scalars and arrays in summaries
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
