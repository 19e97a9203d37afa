import os
import secrets
import sys

import click

from . import fail, setup_django


@click.command()
@click.option(
    "--noinput", "--no-input", "noinput", is_flag=True, help="Never prompt; take values from flags or the environment."
)
@click.option(
    "--username", envvar="CODEQUAL_ADMIN_USERNAME", default="admin", show_default=True, help="First superuser."
)
@click.option("--email", envvar="CODEQUAL_ADMIN_EMAIL", default="", help="Superuser e-mail.")
@click.option(
    "--password",
    envvar="CODEQUAL_ADMIN_PASSWORD",
    default=None,
    help="Superuser password. With --noinput and none given, one is generated into the data directory.",
)
@click.option("--organization", envvar="CODEQUAL_ORGANIZATION", default="Default organization", show_default=True)
@click.option("--project", envvar="CODEQUAL_PROJECT", default="Default project", show_default=True)
def init(noinput, username, email, password, organization, project):
    """Migrate the database and create the first superuser, organization and project (safe to run again)."""
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.core.management import call_command

    from accounts.services import platform_bootstrap
    from codequal.exceptions import ApplicationError

    call_command("migrate", interactive=False, verbosity=0)
    click.echo(f"Database ready ({settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}).")

    password_file = None
    if not get_user_model().objects.filter(username=username).exists() and not password:
        if noinput:
            password = secrets.token_urlsafe(18)
            password_file = settings.DATA_DIR / "initial-admin-password"
            fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
        else:
            password = click.prompt(f"Password for {username}", hide_input=True, confirmation_prompt=True)
    if password and password_file is None:
        try:
            validate_password(password, get_user_model()(username=username, email=email))
        except ValidationError as exc:
            fail("; ".join(exc.messages))
    try:
        result = platform_bootstrap(
            username=username, email=email, password=password, organization_name=organization, project_name=project
        )
    except ApplicationError as exc:
        fail(exc.message)

    def said(created: bool) -> str:
        return "created" if created else "already there"

    click.echo(f"Superuser {result.user.get_username()!r}: {said(result.user_created)}.")
    if password_file is not None:
        click.echo(f"  Its generated password is in {password_file} (readable by you only).")
    click.echo(
        f"Organization {result.organization.name!r} ({result.organization.slug}): {said(result.organization_created)}."
    )
    click.echo(f"Project {result.project.name!r} ({result.project.slug}): {said(result.project_created)}.")

    from evaluations.sandbox.environment import environment_ensure
    from evaluations.services import builtin_humaneval_install

    try:
        environment = environment_ensure()
    except ApplicationError as exc:
        fail(f"{exc.message} {exc.extra.get('pip', '')}".strip())
    click.echo(f"Execution environment {environment.name!r}: {', '.join(environment.packages) or 'standard library'}.")
    suite = builtin_humaneval_install(actor=result.user)
    click.echo(f"Built-in suite {suite.suite.name!r} v{suite.suite.version}: {said(suite.created)}.")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host, port):
    """Serve the portal, API and WebSockets with daphne."""
    setup_django()
    from daphne.cli import CommandLineInterface
    from django.conf import settings
    from django.core.management import call_command

    if not settings.DEBUG:
        call_command("collectstatic", interactive=False, verbosity=0)
    elif host not in ("127.0.0.1", "localhost", "::1"):
        click.secho(
            "Warning: DEBUG is on and the server listens beyond this machine; set DEBUG=false "
            "and SECRET_KEY for anything but local use.",
            fg="yellow",
            err=True,
        )
    CommandLineInterface().run(["-b", host, "-p", str(port), "codequal.asgi:application"])


@click.command()
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
def worker(queues, burst):
    """Run an RQ worker for QUEUES (default: "default"; use "gpu" for tuning jobs). Needs REDIS_URL."""
    setup_django()
    from django.conf import settings
    from django.core.management import call_command

    from codequal.jobs import QUEUES

    if not settings.REDIS_URL:
        fail(
            "REDIS_URL is not set: without Redis, jobs run inside the process that starts them, so no worker is needed."
        )
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        fail(f"Unknown queue(s) {', '.join(unknown)}; the queues are {', '.join(QUEUES)}.")
    # Imported once here, so that every work horse RQ forks inherits the job modules instead of importing them.
    import evaluations.jobs  # noqa: F401

    call_command("rqworker", *(queues or ["default"]), burst=burst)


@click.command()
def status():
    """Show the configuration in use and whether the database (and Redis) answer; exit 1 if not."""
    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from codequal.views import readiness_checks

    click.echo(f"Data directory : {settings.DATA_DIR}")
    click.echo(f"Database       : {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
    jobs = "RQ on Redis" if settings.REDIS_URL else f"in-process ({settings.CODEQUAL_INLINE_JOBS})"
    click.echo(f"Jobs           : {jobs}")
    click.echo(f"Debug          : {settings.DEBUG}")
    from evaluations.sandbox.cgroups import limits_summary

    click.echo(f"Sandbox        : {settings.SANDBOX_BACKEND}; limits: {limits_summary(settings.SANDBOX_BACKEND)}")
    checks = readiness_checks()
    for name, check in checks.items():
        click.echo(f"{name:<15}: {'ok' if check['ok'] else 'FAILED (' + check.get('error', '') + ')'}")
    if checks["database"]["ok"]:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        state = f"{len(pending)} pending (run codequalbench init)" if pending else "up to date"
        click.echo(f"Migrations     : {state}")
    if not all(c["ok"] for c in checks.values()):
        sys.exit(1)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def manage(args):
    """Run a Django management command (e.g. `codequalbench manage createsuperuser`)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codequal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["codequalbench manage", *args])
