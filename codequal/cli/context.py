"""Who a CLI command acts as, and in which project: resolved through the same scoped selectors as the API."""

import click

from . import fail

project_option = click.option(
    "--project", "project_ref", help="organization-slug/project-slug (default: your only one)."
)
user_option = click.option("--user", "username", help="Act as this user (default: the first superuser).")


def resolve_actor(username: str | None):
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_active=True)
    if username:
        user = users.filter(username=username).first()
        if user is None:
            fail(f"No active user {username!r}.")
        return user
    user = users.filter(is_superuser=True).order_by("pk").first()
    if user is None:
        fail("No superuser yet: run `codequalbench init` or pass --user.")
    return user


def resolve_project(user, ref: str | None, *, alternative: str = ""):
    """The project ``ref`` ("org-slug/project-slug") among those ``user`` can see, or their only one."""
    from accounts.selectors import project_list

    projects = project_list(user=user)
    if ref:
        org_slug, _, project_slug = ref.partition("/")
        project = projects.filter(organization__slug=org_slug, slug=project_slug).first()
        if not project_slug or project is None:
            fail(f"{user.get_username()} has no project {ref!r} (use organization-slug/project-slug).")
        return project
    found = list(projects[:2])
    if len(found) == 1:
        return found[0]
    if not found:
        fail(f"{user.get_username()} has no project; create one first{alternative}.")
    fail("Several projects: choose one with --project organization-slug/project-slug.")
