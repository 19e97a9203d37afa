from datetime import timedelta

import click

from . import fail, setup_django


def _user(username: str):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        fail(f"No active user {username!r}.")
    return user


@click.group()
def token():
    """Personal API tokens (stored hashed; the plain token is printed once)."""


@token.command("create")
@click.option("--user", "username", required=True, help="Owner of the token.")
@click.option("--name", required=True, help="What the token is for, e.g. 'ci'.")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None, help="Expire after this many days.")
def token_create(username, name, expires_days):
    """Create a token and print it (only this once)."""
    setup_django()
    from django.utils import timezone

    from accounts.services import api_token_create
    from codequal.exceptions import ApplicationError

    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
    try:
        _, key = api_token_create(user=_user(username), name=name, expires_at=expires_at)
    except ApplicationError as exc:
        fail(exc.message)
    click.echo(key)


@token.command("list")
@click.option("--user", "username", required=True)
def token_list(username):
    """List a user's tokens (never their values)."""
    setup_django()
    from accounts.models import ApiToken

    user = _user(username)
    for t in ApiToken.objects.for_user(user, "view"):
        state = "active" if t.is_active else ("revoked" if t.revoked_at else "expired")
        expires = t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never"
        click.echo(f"{t.pk:>6}  {t.prefix}…  {state:<8} expires {expires:<25} {t.name}")


@token.command("revoke")
@click.argument("token_id", type=int)
@click.option("--user", "username", required=True)
def token_revoke(token_id, username):
    """Revoke one of the user's tokens."""
    setup_django()
    from accounts.models import ApiToken
    from accounts.services import api_token_revoke

    user = _user(username)
    row = ApiToken.objects.for_user(user, "delete").filter(pk=token_id).first()
    if row is None:
        fail(f"{username} has no token {token_id}.")
    api_token_revoke(actor=user, token=row)
    click.echo(f"Revoked token {token_id} ({row.name}).")
