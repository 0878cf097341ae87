"""Building fine-grained projects for tests (shared by the app and browser tests)."""

from __future__ import annotations

from annotations.models import Project, ProjectKind, RationaleMode
from annotations.services.fine_grained_config import (
    AttributeSpec,
    CategorySpec,
    FineGrainedSettings,
    fine_grained_configure,
)

HELPSTEER_LEVELS = ("Very poor", "Poor", "Fair", "Good", "Excellent")


def standard_settings(**overrides: object) -> FineGrainedSettings:
    """Two span categories (one with severities), two 0-4 attributes, overall 1-5."""
    values: dict[str, object] = {
        "categories": (
            CategorySpec(name="Hallucination", key="h", color="#e4572e",
                         description="Not supported by the prompt or by facts",
                         severities=("minor", "major", "critical")),
            CategorySpec(name="Style", key="s", color="#29335c"),
        ),
        "attributes": (
            AttributeSpec(name="Helpfulness", low=0, high=4, descriptors=HELPSTEER_LEVELS),
            AttributeSpec(name="Correctness", low=0, high=4),
        ),
        "overall": (1, 5),
        "missing_flag": True,
        "rationale": RationaleMode.OPTIONAL,
    }
    values.update(overrides)
    return FineGrainedSettings(**values)


def make_fine_grained(project: Project, **overrides: object) -> Project:
    project.kind = ProjectKind.FINE_GRAINED
    project.save(update_fields=["kind"])
    fine_grained_configure(project=project, settings=standard_settings(**overrides))
    project.refresh_from_db()
    return project
