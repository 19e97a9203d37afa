"""``codequalbench models``: register, list, test and import model endpoints (thin wrappers over the services)."""

import json
import os
import sys

import click

from . import fail, setup_django
from .context import project_option, resolve_actor, resolve_project, user_option

STYLES = ["completion", "chat"]
# The variable each backend's own tools read the key from (used when no key option and no --base-url is given).
KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}


def _context(project_ref, username):
    setup_django()
    user = resolve_actor(username)
    return user, resolve_project(user, project_ref)


def _option_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


@click.group("models")
def models():
    """Model endpoints: add, list, test, import."""


@models.command("add")
@click.argument("name")
@click.option(
    "--backend",
    type=click.Choice(["ollama", "openai", "anthropic", "gemini", "hf", "samples", "reference"]),
    required=True,
)
@click.option(
    "--base-url",
    default="",
    help="Server URL (default: the backend's variable, e.g. OLLAMA_HOST, OPENAI_BASE_URL); for hf, a checkpoint "
    "directory in HF_MODEL_DIRS; for samples, a JSONL file (copied into SAMPLES_DIR); reference takes none.",
)
@click.option("--model", "served", default="", help="Model identifier on the server (default: NAME).")
@click.option("--style", type=click.Choice(STYLES), default=None, help="Default: completion where served, else chat.")
@click.option("--stream/--no-stream", default=False, show_default=True)
@click.option("--parameters", type=int, default=None, help="Parameter count, e.g. 7000000000.")
@click.option("--context-window", type=int, default=None)
@click.option("--capability", "capabilities", multiple=True, help="Repeatable, e.g. --capability code.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Default generation option (JSON value).")
@click.option("--max-concurrency", type=int, default=4, show_default=True)
@click.option("--api-key-env", default="", help="Name an allowed environment variable holding the key.")
@click.option("--api-key-stdin", is_flag=True, help="Read the key from standard input (stored encrypted).")
@project_option
@user_option
def add(
    name,
    backend,
    base_url,
    served,
    style,
    stream,
    parameters,
    context_window,
    capabilities,
    options,
    max_concurrency,
    api_key_env,
    api_key_stdin,
    project_ref,
    username,
):
    """Register model endpoint NAME in a project.

    Without a key option or --base-url, an openai, anthropic or gemini endpoint takes its key from OPENAI_API_KEY,
    ANTHROPIC_API_KEY or GEMINI_API_KEY (stored encrypted).
    """
    user, project = _context(project_ref, username)
    from codequal.exceptions import ApplicationError
    from models_registry.services import model_endpoint_create

    generation_options = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--option {item!r}: use KEY=VALUE, e.g. temperature=0.2.")
        generation_options[key.strip()] = _option_value(value)
    api_key, key_note = None, ""
    if api_key_stdin:
        api_key = sys.stdin.readline().strip()
        key_note = "API key: read from standard input, stored encrypted."
    elif not api_key_env and not base_url and os.environ.get(KEY_VARIABLES.get(backend, "")):
        api_key = os.environ[KEY_VARIABLES[backend]]
        key_note = f"API key: taken from {KEY_VARIABLES[backend]}, stored encrypted."
    style_given = {"api_style": style} if style else {}
    try:
        if backend == "samples" and base_url:
            from models_registry.specs import samples_file_store

            base_url = str(samples_file_store(base_url))
        endpoint = model_endpoint_create(
            actor=user,
            project=project,
            name=name,
            backend=backend,
            base_url=base_url,
            model=served,
            **style_given,
            stream=stream,
            parameters=parameters,
            context_window=context_window,
            capabilities=list(capabilities),
            generation_options=generation_options,
            max_concurrency=max_concurrency,
            api_key=api_key,
            api_key_env=api_key_env or None,
        )
    except ApplicationError as exc:
        fail(_explain(exc))
    click.echo(
        f"Registered {endpoint.name} ({endpoint.backend}, {endpoint.api_style}) at {endpoint.base_url} in {project}."
    )
    if key_note:
        click.echo(key_note)


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@project_option
@user_option
def list_(as_json, project_ref, username):
    """List the project's model endpoints (never their keys)."""
    user, project = _context(project_ref, username)
    from models_registry.selectors import model_endpoint_list

    rows = list(model_endpoint_list(user=user, project=project))
    if as_json:
        keys = [
            "name",
            "backend",
            "model",
            "api_style",
            "base_url",
            "parameters",
            "context_window",
            "capabilities",
            "health_status",
            "has_api_key",
        ]
        click.echo(json.dumps([{k: getattr(e, k) for k in keys} for e in rows], indent=2))
        return
    if not rows:
        click.echo(f"No model endpoints in {project}.")
        return
    for e in rows:
        key = "key" if e.has_api_key else "no key"
        click.echo(f"{e.name:<30} {e.backend:<7} {e.api_style:<10} {e.health_status:<9} {key:<6} {e.base_url}")


@models.command("test")
@click.argument("name")
@click.option("--prompt", default="def add(a, b):\n    ", show_default=False, help="Default: a short code prompt.")
@click.option("--max-tokens", type=click.IntRange(1, 4096), default=32, show_default=True)
@project_option
@user_option
def test(name, prompt, max_tokens, project_ref, username):
    """Generate one short completion with endpoint NAME; exit 1 if it fails."""
    user, project = _context(project_ref, username)
    from codequal.exceptions import ApplicationError
    from models_registry.selectors import model_endpoint_get
    from models_registry.services import model_endpoint_test

    try:
        endpoint = model_endpoint_get(user=user, project=project, name_or_id=name, verb="evaluate")
    except ApplicationError as exc:
        fail(exc.message)
    result = model_endpoint_test(actor=user, endpoint=endpoint, prompt=prompt, max_tokens=max_tokens)
    if not result.success:
        fail(f"{endpoint.name}: {result.message} [{result.error_kind}, {result.latency_ms:.0f} ms]")
    tokens = "?" if result.tokens_generated is None else result.tokens_generated
    click.echo(f"{endpoint.name}: OK in {result.latency_ms:.0f} ms, {tokens} tokens, {result.attempts} attempt(s).")
    click.echo(result.response)


@models.command("import")
@click.argument("registry_file", type=click.File("r"))
@click.option("--update", is_flag=True, help="Update endpoints that already exist (default: leave them alone).")
@project_option
@user_option
def import_(registry_file, update, project_ref, username):
    """Register every model of a registry JSON file (all or nothing).

    Shape: {"codellama:7b": {"backend": "ollama", "parameters": 7000000000, "context_window": 4096,
    "capabilities": ["code", "completion"]}}
    """
    user, project = _context(project_ref, username)
    from codequal.exceptions import ApplicationError
    from models_registry.services import model_registry_import

    try:
        registry = json.load(registry_file)
    except ValueError as exc:
        fail(f"{registry_file.name} is not valid JSON: {exc}")
    try:
        summary = model_registry_import(actor=user, project=project, registry=registry, update_existing=update)
    except ApplicationError as exc:
        fail(f"Nothing imported. {_explain(exc)}")
    for label, names in (("created", summary.created), ("updated", summary.updated), ("unchanged", summary.unchanged)):
        if names:
            click.echo(f"{label.capitalize():<10} {', '.join(names)}")
    click.echo(f"{len(summary.created)} created, {len(summary.updated)} updated, {len(summary.unchanged)} unchanged.")


def _explain(exc) -> str:
    fields = exc.extra.get("fields") or {}
    details = "; ".join(f"{field}: {' '.join(map(str, messages))}" for field, messages in fields.items())
    return f"{exc.message} ({details})" if details and len(fields) > 1 else exc.message
