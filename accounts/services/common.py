"""Small helpers shared by the organization and project services."""

from django.db import models
from django.utils.text import slugify

from codequal.exceptions import ConflictError


def unique_slug(model, base: str, **scope) -> str:
    """A slug for ``base`` that is free among ``model`` rows in ``scope`` (adds -2, -3, ... when needed)."""
    root = slugify(base)[:90] or "item"
    slug, n = root, 2
    while model.objects.filter(slug=slug, **scope).exists():
        slug, n = f"{root}-{n}", n + 1
    return slug


def ensure_slug_free(queryset: models.QuerySet, slug: str, message: str, *, exclude_pk=None) -> None:
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    if queryset.filter(slug=slug).exists():
        raise ConflictError(message, extra={"fields": {"slug": [slug]}})


def apply_changes(instance: models.Model, changes: dict) -> bool:
    """Set and save the changed fields only; False when there was nothing to change."""
    if not changes:
        return False
    for field, value in changes.items():
        setattr(instance, field, value)
    instance.save(update_fields=list(changes))
    return True


def name_and_slug_changes(instance, *, name: str | None, slug: str | None) -> dict:
    changes = {}
    if name is not None and name.strip() and name.strip() != instance.name:
        changes["name"] = name.strip()
    if slug is not None and slug != instance.slug:
        changes["slug"] = slug
    return changes
