"""Every kind of fit the app runs: one module per kind, one line each in :data:`KINDS`.

Where do I add a model family?
    Write ``annotations/fit_kinds/<kind>.py`` with a :class:`~.base.FitKindSpec` named
    ``SPEC`` (its id, label and noun; the rows it reads and which of them are data; its
    options with defaults and validation; ``load``, which reads the data through a
    selector and builds the fitter's options, applying policy from
    :mod:`annotations.policy`; the dotted path of its pure function in
    ``modeling/reports/`` and the report type it returns; ``results``, which turns the
    report into rows), then add ``SPEC`` to :data:`KINDS` below. ``FitRun.kind`` stores
    the id; no migration is needed.

The life of a run (``annotations/tasks/fits.py`` and ``annotations/services/fits.py``)::

    fit_run_request(kind, options)   check_options(options), a lookup or one new FitRun
    fit_run_execute(run_id)          on a worker (the "modeling" queue):
        job = spec.load(run)             selectors -> FitJob(data, options, context)
        report = fitter(job.data, job.options)    one pure function, frozen Report out
        results = spec.results(run, job, report)  FitResults: rows, metrics, warnings
        fit_run_record_results(run, results)      one transaction (and the outputs)

Errors: :class:`modeling.errors.ModelError` (and :class:`~modeling.errors.NothingToFit`)
are recorded on the run as what the data cannot support; anything else is logged at
ERROR with its traceback and recorded as an internal error.

Extra outputs: a kind whose fit produces more than scores (e.g. a selection plan of
candidate pairs) adds a typed field to its report (a subclass of
:class:`~modeling.reports.types.Report`), fills it in its pure function, and returns from
``results`` a :class:`~.base.FitResults` whose ``outputs`` hold objects with
``write(run)`` (:class:`~.base.FitOutput`): the writer calls each inside the transaction
that stores the scores and flips the run to succeeded, so readers see the outputs and
the scores change together (swap the previous output in the same ``write``). Work that
may run after the commit (notifications, gates) goes in ``transaction.on_commit`` there.

Fast path: every kind accepts the option ``{"fast": true}``, which applies the kind's
``fast`` overrides (Bradley-Terry: no bootstrap, no evaluation), for fits that should
land in seconds. A request for data that already has a run of that kind is a lookup of
that run whatever its options (the run is unique per data version and digest).
"""

from __future__ import annotations

from typing import Any

from annotations.fit_kinds import bradley_terry, dawid_skene, facets
from annotations.fit_kinds.base import FitJob, FitKindSpec, FitOutput, FitResults

__all__ = ["KINDS", "FitJob", "FitKindSpec", "FitOutput", "FitResults", "fit_kind_spec"]

KINDS: dict[str, FitKindSpec[Any, Any, Any]] = {spec.kind: spec for spec in (
    bradley_terry.SPEC,
    facets.SPEC,
    dawid_skene.SPEC,
)}


def fit_kind_spec(kind: str) -> FitKindSpec[Any, Any, Any]:
    """The spec of ``kind``; ``ValueError`` for a kind nobody registered."""
    try:
        return KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(KINDS)) or "none"
        raise ValueError(f"Unknown kind of fit {kind!r} (known: {known}).") from None
