"""``codequalbench evaluate``: the main job. Models x problems x samples, run in the sandbox, results written out."""

import json
import sys
from pathlib import Path

import click

from . import fail, setup_django
from .context import project_option, resolve_actor, resolve_project, user_option


def _load_config(path: str | None) -> dict:
    if not path:
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        fail(f"Cannot read --config {path}: {exc}")
    if not isinstance(data, dict):
        fail(f"--config {path} must hold a mapping (models, problems, evaluation, ...).")
    return data


def _ks(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail(f"--k takes whole numbers separated by commas, e.g. 1,10,100 (got {text!r}).")


def build_config(base: dict, *, models, suite, problems, samples, timeout, k, strategy, samples_file: bool) -> dict:
    """The YAML config with the command line's options laid over it."""
    config = {key: (dict(value) if isinstance(value, dict) else value) for key, value in base.items()}
    if models:
        config["models"] = models
    selection = config.get("problems") or {}
    if isinstance(selection, str):
        selection = {"suite": selection}
    if suite:
        selection["suite"] = suite
    selection.setdefault("suite", "humaneval")
    if problems:
        selection["range"] = problems
    config["problems"] = selection
    run = config.setdefault("evaluation", {})
    if samples is not None:
        run["samples_per_problem"] = samples
    if timeout is not None:
        run["timeout_seconds"] = timeout
    if samples_file:
        run["samples_from_file"] = samples is None
    if k:
        config.setdefault("metrics", {})["k"] = k
    if strategy:
        config.setdefault("prompting", {})["strategies"] = [s.strip() for s in strategy.split(",") if s.strip()]
    return config


@click.command("evaluate")
@click.option("--models", "models_text", help="Comma-separated specs: reference, ollama:NAME, openai:NAME, hf:DIR, ...")
@click.option("--samples-file", type=click.Path(exists=True, dir_okay=False), help="Pre-generated samples (JSONL).")
@click.option("--suite", help="Suite name (default: the config's, else humaneval).")
@click.option("--problems", help="Selection: all, 0-10, 1,4,7-9.")
@click.option("--samples", type=click.IntRange(1, 1000), help="Samples per problem (default 1; a file's own count).")
@click.option("--timeout", type=click.FloatRange(0.1, 3600), help="Seconds per program (default: the suite's).")
@click.option("--k", "k_text", help="pass@k to report, e.g. 1,10,100.")
@click.option("--strategy", help="Prompt strategies, comma-separated (zero_shot, few_shot, chain_of_thought).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="YAML config file.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write results here (.json, .csv or .jsonl).")
@click.option("--threshold", type=click.FloatRange(0, 1), help="Exit 1 when a model's pass rate is below this.")
@click.option("--name", default="", help="A name for the evaluation.")
@click.option(
    "--inline/--queue",
    default=None,
    help="Run the jobs in this process (default without REDIS_URL) or hand them to `codequalbench worker`s.",
)
@project_option
@user_option
def evaluate(
    models_text,
    samples_file,
    suite,
    problems,
    samples,
    timeout,
    k_text,
    strategy,
    config_path,
    output,
    threshold,
    name,
    inline,
    project_ref,
    username,
):
    """Evaluate models on a suite; print per-model pass@k with 95% intervals and write the results."""
    setup_django()
    from django.conf import settings

    from codequal.exceptions import ApplicationError
    from codequal.jobs import in_process
    from evaluations.runs.services import evaluation_create
    from models_registry.specs import endpoint_for_spec, parse_model_specs

    from .evaluate_output import report, wait_for

    user = resolve_actor(username)
    project = resolve_project(user, project_ref)
    base = _load_config(config_path)
    try:
        known = list(project.model_endpoints.values_list("name", flat=True))
        specs = parse_model_specs(models_text, known_names=known) if models_text else []
        if samples_file:
            specs += parse_model_specs(f"samples:{Path(samples_file).resolve()}")
        names = list(dict.fromkeys(endpoint_for_spec(actor=user, project=project, spec=spec).name for spec in specs))
        if not names and not base.get("models"):
            fail("Name the models: --models reference,ollama:codellama:7b,... or --samples-file FILE.")
        config = build_config(
            base,
            models=names,
            suite=suite,
            problems=problems,
            samples=samples,
            timeout=timeout,
            k=_ks(k_text),
            strategy=strategy,
            samples_file=bool(samples_file),
        )
        run_inline = inline if inline is not None else not settings.REDIS_URL
        with in_process() if run_inline else _nothing():
            evaluation = evaluation_create(actor=user, project=project, config=config, name=name)
            click.echo(
                f"Evaluation {evaluation.pk}: {', '.join(names or config['models'])} on {evaluation.suite} "
                f"({len(evaluation.problem_ids)} problems, {evaluation.total_samples} samples)"
            )
            if not run_inline:
                click.echo("Jobs queued on Redis; `codequalbench worker` processes run them.")
            evaluation = wait_for(evaluation, user=user)
    except ApplicationError as exc:
        click.secho(f"Error: {exc.message}", fg="red", err=True)
        for field, problem in (exc.extra.get("fields") or {}).items():
            click.echo(f"  {field}: {problem}", err=True)
        sys.exit(2)
    sys.exit(report(evaluation, output=output, threshold=threshold))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def write_results(document: dict, path: str, fmt: str | None = None) -> None:
    from evaluations.runs.exports import export_csv, export_humaneval_jsonl

    target = Path(path)
    fmt = fmt or {".csv": "csv", ".jsonl": "jsonl"}.get(target.suffix.lower(), "json")
    if fmt == "csv":
        target.write_text(export_csv(document["detailed_results"]), encoding="utf-8")
    elif fmt == "jsonl":
        target.write_text(export_humaneval_jsonl(document["detailed_results"]), encoding="utf-8")
    else:
        target.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")


@click.command("resume")
@click.argument("evaluation_id", type=int)
@click.option("--output", type=click.Path(dir_okay=False), help="Write results here (.json, .csv or .jsonl).")
@click.option("--threshold", type=click.FloatRange(0, 1), help="Exit 1 when a model's pass rate is below this.")
@click.option("--inline/--queue", default=None, help="Run the jobs in this process or on `codequalbench worker`s.")
@user_option
def resume(evaluation_id, output, threshold, inline, username):
    """Complete a failed, cancelled or interrupted evaluation: only what is missing runs."""
    setup_django()
    from django.conf import settings

    from codequal.exceptions import ApplicationError
    from codequal.jobs import in_process
    from evaluations.models import Evaluation
    from evaluations.runs.services import evaluation_resume

    from .evaluate_output import report, wait_for

    user = resolve_actor(username)
    evaluation = Evaluation.objects.for_user(user, "change").filter(pk=evaluation_id).first()
    if evaluation is None:
        fail(f"No evaluation {evaluation_id} that {user.get_username()} may run.")
    run_inline = inline if inline is not None else not settings.REDIS_URL
    try:
        with in_process() if run_inline else _nothing():
            evaluation = evaluation_resume(actor=user, evaluation=evaluation)
            click.echo(
                f"Resuming evaluation {evaluation.pk}: {evaluation.completed_samples}/{evaluation.total_samples} done."
            )
            evaluation = wait_for(evaluation, user=user)
    except ApplicationError as exc:
        fail(exc.message, code=2)
    sys.exit(report(evaluation, output=output, threshold=threshold))
