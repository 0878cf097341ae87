"""The lead's fine-grained task configuration: span categories, rating attributes, overall
rating, the "something is missing" flag and the rationale mode, validated as a whole and
written in one transaction.

Categories and attributes keep their identity by name: saving a configuration updates the
rows whose name is unchanged, creates the new ones and deletes the dropped ones. A category
or attribute that already has spans or ratings cannot be dropped, and an attribute with
ratings keeps its scale, so no stored judgment ever loses its meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count

from annotations.models import (
    FineGrainedConfig,
    Project,
    RatingAttribute,
    RationaleMode,
    SpanCategory,
)
from annotations.selectors.projects import guideline_version_used

MAX_CATEGORIES = 20
MAX_ATTRIBUTES = 20
MAX_SEVERITIES = 5
MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 500
MAX_DESCRIPTOR_CHARS = 300
SCALE_BOUNDS = (0, 9)  # one digit per level: the rater types the value itself
RESERVED_KEYS = frozenset("0123456789?trm")  # the fine-grained page's own shortcuts
PARKED_KEYS = 0xE000
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
PALETTE = ("#e4572e", "#f3a712", "#29335c", "#a8c686", "#669bbc", "#8e44ad", "#17becf",
           "#d62728", "#2ca02c", "#bcbd22")


@dataclass(frozen=True)
class CategorySpec:
    name: str
    key: str
    color: str = ""  # empty: a colour from the palette by position
    description: str = ""
    severities: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    low: int
    high: int
    description: str = ""
    descriptors: tuple[str, ...] = ()  # one per level, lowest first, or none


@dataclass(frozen=True)
class FineGrainedSettings:
    categories: tuple[CategorySpec, ...] = ()
    attributes: tuple[AttributeSpec, ...] = ()
    overall: tuple[int, int] | None = None
    overall_descriptors: tuple[str, ...] = ()
    missing_flag: bool = True
    rationale: str = RationaleMode.OPTIONAL


def fine_grained_configure(*, project: Project, settings: FineGrainedSettings
                           ) -> FineGrainedConfig:
    """Validate ``settings`` and make them the project's fine-grained task. A change bumps
    the project's guideline version (stored with every annotation) once work was recorded
    under the current one; before that (e.g. the first configuration) it amends it."""
    settings = _with_colors(settings)
    _validate(settings)
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        changed = _sync_categories(locked, settings.categories)
        changed |= _sync_attributes(locked, settings.attributes)
        config, created = FineGrainedConfig.objects.get_or_create(project=locked)
        changed |= created or _config_changed(config, settings)
        _apply_config(config, settings)
        if changed and guideline_version_used(locked):
            locked.guideline_version += 1
            locked.save(update_fields=["guideline_version", "updated_at"])
    return config


def _with_colors(settings: FineGrainedSettings) -> FineGrainedSettings:
    categories = tuple(
        CategorySpec(name=spec.name.strip(), key=spec.key, description=spec.description.strip(),
                     color=(spec.color.strip() or PALETTE[index % len(PALETTE)]).lower(),
                     severities=tuple(level.strip() for level in spec.severities))
        for index, spec in enumerate(settings.categories))
    attributes = tuple(
        AttributeSpec(name=spec.name.strip(), low=spec.low, high=spec.high,
                      description=spec.description.strip(),
                      descriptors=tuple(text.strip() for text in spec.descriptors))
        for spec in settings.attributes)
    return FineGrainedSettings(categories, attributes, settings.overall,
                               tuple(text.strip() for text in settings.overall_descriptors),
                               settings.missing_flag, settings.rationale)


# ---------------------------------------------------------------------------- validation


def _validate(settings: FineGrainedSettings) -> None:
    errors: dict[str, list[str]] = {}
    for field, problems in (("categories", _category_problems(settings.categories)),
                            ("attributes", _attribute_problems(settings.attributes)),
                            ("overall", _overall_problems(settings))):
        if problems:
            errors[field] = problems
    if settings.rationale not in RationaleMode.values:
        errors["rationale"] = [f"Unknown rationale mode {settings.rationale!r}."]
    if not (settings.categories or settings.attributes or settings.overall):
        errors.setdefault("__all__", []).append(
            "Configure at least one span category, rating attribute or an overall rating.")
    if errors:
        raise ValidationError(errors)


def _category_problems(categories: tuple[CategorySpec, ...]) -> list[str]:
    problems = []
    if len(categories) > MAX_CATEGORIES:
        problems.append(f"At most {MAX_CATEGORIES} span categories.")
    problems += _duplicates("span category names", [spec.name for spec in categories])
    problems += _duplicates("shortcut keys", [spec.key for spec in categories])
    for spec in categories:
        problems += [f"Category “{spec.name[:MAX_NAME_CHARS]}”: {problem}"
                     for problem in _one_category_problems(spec)]
    return problems


def _one_category_problems(spec: CategorySpec) -> list[str]:
    problems = _text_problems(spec.name, spec.description)
    if len(spec.key) != 1 or not spec.key.isprintable() or spec.key.isspace():
        problems.append(f"the key must be one printable character, not {spec.key!r}.")
    elif spec.key.casefold() in RESERVED_KEYS:
        problems.append(f"the key {spec.key!r} is taken by the page's own shortcuts "
                        f"({' '.join(sorted(RESERVED_KEYS))}).")
    if not COLOR.match(spec.color):
        problems.append(f"the colour must look like #1f77b4, not {spec.color!r}.")
    if len(spec.severities) > MAX_SEVERITIES:
        problems.append(f"at most {MAX_SEVERITIES} severity levels.")
    if any(not level or len(level) > MAX_NAME_CHARS for level in spec.severities):
        problems.append(f"each severity level needs 1 to {MAX_NAME_CHARS} characters.")
    problems += _duplicates("severity levels", list(spec.severities))
    return problems


def _attribute_problems(attributes: tuple[AttributeSpec, ...]) -> list[str]:
    problems = []
    if len(attributes) > MAX_ATTRIBUTES:
        problems.append(f"At most {MAX_ATTRIBUTES} rating attributes.")
    problems += _duplicates("attribute names", [spec.name for spec in attributes])
    for spec in attributes:
        found = _text_problems(spec.name, spec.description)
        found += _scale_problems(spec.low, spec.high, spec.descriptors)
        problems += [f"Attribute “{spec.name[:MAX_NAME_CHARS]}”: {problem}" for problem in found]
    scales = {(spec.low, spec.high) for spec in attributes}
    if len(scales) > 1:
        # The many-facet Rasch model compares raters and items across attributes on one
        # category structure; attributes on different scales would need separate fits.
        problems.append("All rating attributes must use the same scale (found "
                        + ", ".join(f"{low}-{high}" for low, high in sorted(scales)) + ").")
    return problems


def _overall_problems(settings: FineGrainedSettings) -> list[str]:
    if settings.overall is None:
        return ["Overall level descriptors need an overall scale."] \
            if settings.overall_descriptors else []
    low, high = settings.overall
    return _scale_problems(low, high, settings.overall_descriptors)


def _scale_problems(low: int, high: int, descriptors: tuple[str, ...]) -> list[str]:
    problems = []
    if not SCALE_BOUNDS[0] <= low < high <= SCALE_BOUNDS[1]:
        problems.append(f"the scale must run from a lower to a higher whole number between "
                        f"{SCALE_BOUNDS[0]} and {SCALE_BOUNDS[1]} (e.g. 0-4 or 1-5), "
                        f"not {low}-{high}.")
    elif descriptors and len(descriptors) != high - low + 1:
        problems.append(f"give one descriptor per level ({high - low + 1}), "
                        f"not {len(descriptors)}.")
    if any(len(text) > MAX_DESCRIPTOR_CHARS for text in descriptors):
        problems.append(f"descriptors are at most {MAX_DESCRIPTOR_CHARS} characters.")
    return problems


def _text_problems(name: str, description: str) -> list[str]:
    problems = []
    if not name or len(name) > MAX_NAME_CHARS:
        problems.append(f"a name needs 1 to {MAX_NAME_CHARS} characters.")
    if len(description) > MAX_DESCRIPTION_CHARS:
        problems.append(f"descriptions are at most {MAX_DESCRIPTION_CHARS} characters.")
    return problems


def _duplicates(what: str, values: list[str]) -> list[str]:
    seen: set[str] = set()
    repeated = []
    for value in values:
        folded = value.casefold()
        if folded in seen and value not in repeated:
            repeated.append(value)
        seen.add(folded)
    return [f"The {what} must be distinct (repeated: {', '.join(repeated)})."] if repeated else []


# ---------------------------------------------------------------------------- writing


def _sync_categories(project: Project, specs: tuple[CategorySpec, ...]) -> bool:
    existing = {row.name.casefold(): row for row in
                SpanCategory.objects.filter(project=project).annotate(n_spans=Count("spans"))}
    wanted = {spec.name.casefold() for spec in specs}
    dropped = [row for name, row in existing.items() if name not in wanted]
    used = [f"“{row.name}” ({row.n_spans} spans)" for row in dropped if row.n_spans]
    if used:
        raise ValidationError({"categories": [
            "Categories with spans cannot be removed or renamed: " + ", ".join(used) + "."]})
    SpanCategory.objects.filter(pk__in=[row.pk for row in dropped]).delete()
    # Park the keys on private-use characters (never valid keys) first, so that swapping
    # two categories' keys passes the unique constraint.
    for index, row in enumerate(existing.values()):
        if row.name.casefold() in wanted:
            SpanCategory.objects.filter(pk=row.pk).update(key=chr(PARKED_KEYS + index))
    changed = bool(dropped)
    for position, spec in enumerate(specs):
        fields = {"position": position, "name": spec.name, "key": spec.key,
                  "color": spec.color, "description": spec.description,
                  "severities": list(spec.severities)}
        changed |= _upsert(SpanCategory, project, existing.get(spec.name.casefold()), fields)
    return changed


def _sync_attributes(project: Project, specs: tuple[AttributeSpec, ...]) -> bool:
    existing = {row.name.casefold(): row for row in
                RatingAttribute.objects.filter(project=project)
                .annotate(n_ratings=Count("ratings"))}
    wanted = {spec.name.casefold(): spec for spec in specs}
    dropped = [row for name, row in existing.items() if name not in wanted]
    problems = [f"“{row.name}” has {row.n_ratings} ratings and cannot be removed or renamed."
                for row in dropped if row.n_ratings]
    problems += [f"“{row.name}” has {row.n_ratings} ratings; its scale stays "
                 f"{row.scale_low}-{row.scale_high}."
                 for name, row in existing.items() if name in wanted and row.n_ratings
                 and (wanted[name].low, wanted[name].high) != (row.scale_low, row.scale_high)]
    if problems:
        raise ValidationError({"attributes": problems})
    RatingAttribute.objects.filter(pk__in=[row.pk for row in dropped]).delete()
    changed = bool(dropped)
    for position, spec in enumerate(specs):
        fields = {"position": position, "name": spec.name, "description": spec.description,
                  "scale_low": spec.low, "scale_high": spec.high,
                  "descriptors": list(spec.descriptors)}
        changed |= _upsert(RatingAttribute, project, existing.get(spec.name.casefold()), fields)
    return changed


def _upsert(model: type[SpanCategory] | type[RatingAttribute], project: Project,
            row: SpanCategory | RatingAttribute | None, fields: dict[str, object]) -> bool:
    if row is None:
        model.objects.create(project=project, **fields)
        return True
    # ``row`` still holds the values read before the keys were parked.
    changed = any(getattr(row, name) != value for name, value in fields.items())
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return changed


def _config_changed(config: FineGrainedConfig, settings: FineGrainedSettings) -> bool:
    low, high = settings.overall or (None, None)
    return (config.overall_low, config.overall_high, list(config.overall_descriptors),
            config.missing_flag, config.rationale) != (
        low, high, list(settings.overall_descriptors), settings.missing_flag, settings.rationale)


def _apply_config(config: FineGrainedConfig, settings: FineGrainedSettings) -> None:
    config.overall_low, config.overall_high = settings.overall or (None, None)
    config.overall_descriptors = list(settings.overall_descriptors)
    config.missing_flag = settings.missing_flag
    config.rationale = settings.rationale
    config.save()
