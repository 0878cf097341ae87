"""Statistical models for human judgments: pure numpy/torch, no web framework.

Nothing here imports Django, Celery or the app: the app's fit task (annotations/tasks)
calls one function of :mod:`modeling.reports` per kind of fit. Each model family lives in
its own module and is also available on the command line (``python -m modeling --help``).
"""
