"""Helpers for app tests."""

from __future__ import annotations

from django.apps import apps


def table_counts() -> dict[str, int]:
    """Row counts of every model, to prove that a denied request wrote nothing."""
    return {model._meta.label: model.objects.count() for model in apps.get_models()
            if model._meta.label not in ("sessions.Session",)}
