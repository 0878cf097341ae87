"""One pure function per kind of fit the app runs: long-format rows and options in, a
frozen :class:`~modeling.reports.types.Report` out (estimates, summaries as JSON-ready
TypedDicts, warnings as :class:`~modeling.reports.types.Notice` data).

* :func:`modeling.reports.pairwise.pairwise_report`: Bradley-Terry with leaderboards by
  item and source, Crowd-BT rater reliability, position bias, win rates, evaluation.
* :func:`modeling.reports.fine_grained.facets_report`: many-facet Rasch.
* :func:`modeling.reports.fine_grained.dawid_skene_report`: Dawid-Skene and agreement.

The types live in :mod:`modeling.reports.types`, which imports no numpy or torch, so
callers can build inputs and read results without loading the math.
"""
