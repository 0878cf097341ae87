"""Statistical models for human judgments: pure numpy/torch, no web framework.

Only :mod:`modeling.tasks` bridges to Django and Celery. Each model family lives in its
own module and is also available on the command line (``python -m modeling --help``).
"""
