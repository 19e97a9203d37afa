"""``codequalbench suites``: import and list benchmark suites (thin wrappers over the services)."""

import click

from . import fail, setup_django
from .context import project_option, resolve_actor, resolve_project, user_option

FORMATS = ["evalplus", "mbpp", "custom"]


def _project(user, ref: str | None, builtin: bool):
    if builtin:
        if ref:
            fail("--builtin and --project exclude each other.")
        return None
    return resolve_project(user, ref, alternative=", or use --builtin")


@click.group("suites")
def suites():
    """Benchmark suites: import (a new version each time) and list."""


@suites.command("import")
@click.option("--format", "source_format", type=click.Choice(FORMATS), required=True)
@click.option("--file", "path", type=click.Path(dir_okay=False), help=".jsonl, .jsonl.gz or .yaml file.")
@click.option("--url", help="http(s) URL of the file.")
@click.option("--name", required=True, help="Suite name; importing an existing name makes its next version.")
@project_option
@click.option("--builtin", is_flag=True, help="Install as a built-in suite, visible to everyone (superusers only).")
@user_option
@click.option("--title", default="", help="Human-readable title.")
@click.option("--allow-broken", is_flag=True, help="Keep problems whose reference fails its own tests, flagged.")
def suites_import(source_format, path, url, name, project_ref, builtin, username, title, allow_broken):
    """Import a suite from --file or --url: all problems or none."""
    setup_django()
    from codequal.exceptions import ApplicationError
    from evaluations import services

    if bool(path) == bool(url):
        fail("Give exactly one of --file or --url.")
    user = resolve_actor(username)
    project = _project(user, project_ref, builtin)
    try:
        source = services.suite_source_load(path=path, url=url)
        click.echo(f"Read {source.reference} ({len(source.data)} bytes); running reference solutions in the sandbox…")
        report = services.suite_import(
            actor=user,
            project=project,
            name=name,
            source_format=source_format,
            source=source,
            title=title,
            allow_broken=allow_broken,
        )
    except ApplicationError as exc:
        click.secho(f"Error: {exc.message}", fg="red", err=True)
        for line in (exc.extra.get("errors") or [])[1:]:
            click.echo(f"  {line}", err=True)
        for flag in exc.extra.get("flagged") or []:
            click.echo(f"  {flag['task_id']} (line {flag['line']}): {flag['reason']}", err=True)
        raise SystemExit(1) from None
    click.echo(report.summary())
    for flag in report.flagged:
        click.secho(f"  flagged {flag['task_id']} (line {flag['line']}): {flag['reason']}", fg="yellow")


@suites.command("list")
@click.option("--user", "username", help="List what this user can see (default: the first superuser).")
def suites_list(username):
    """Suites you can see: built-in ones and your projects' custom suites."""
    setup_django()
    from evaluations.selectors import suite_list

    user = resolve_actor(username)
    rows = list(suite_list(user=user))
    if not rows:
        click.echo("No suites yet: `codequalbench init` installs HumanEval.")
        return
    for s in rows:
        where = "built-in" if s.is_builtin else str(s.project)
        flagged = f", {s.flagged_count} flagged" if s.flagged_count else ""
        size = f"{s.problem_count:>5} problems{flagged}"
        click.echo(f"{s.pk:>5}  {s.name:<24} v{s.version:<3} {size}  {where}  {s.source_format}")
