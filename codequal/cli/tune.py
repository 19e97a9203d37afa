"""``codequalbench tune``: a dataset from a model's failures, LoRA-tuned into a new hf endpoint, compared if asked."""

import json
import sys
import time

import click

from . import fail, setup_django
from .context import project_option, resolve_actor, resolve_project, user_option


def _hyperparameters(text: str | None, **given) -> dict:
    values = {}
    if text:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            fail(f"--hyperparameters must be a JSON object: {exc}")
        if not isinstance(values, dict):
            fail("--hyperparameters must be a JSON object.")
    values.update({k: v for k, v in given.items() if v is not None})
    return values


def _source_evaluations(user, project, endpoint, ids):
    """The evaluations named, or the completed ones the model took part in; and which models' samples to use."""
    from evaluations.models import Evaluation

    visible = Evaluation.objects.for_user(user, "view").filter(project=project)
    if ids:
        found = list(visible.filter(pk__in=ids))
        missing = sorted(set(ids) - {e.pk for e in found})
        if missing:
            fail(f"No evaluation {missing[0]} in {project}.")
        return found, []
    found = list(visible.filter(status="completed", models__endpoint=endpoint).distinct())
    if not found:
        fail(f"{endpoint.name} has no completed evaluation in {project}: run one first, or pass --evaluation ID.")
    return found, [endpoint.name]


def _wait(job, *, quiet: bool):
    from tuning.models import TuningJob

    shown = -1
    while True:
        job = TuningJob.objects.get(pk=job.pk)
        if job.current_step != shown and not quiet and job.total_steps:
            shown = job.current_step
            loss = f"{job.loss:.4f}" if job.loss is not None else "-"
            click.echo(f"  step {job.current_step}/{job.total_steps}  stage {job.stage}  loss {loss}")
        if job.is_finished:
            return job
        time.sleep(1.0)


@click.command("tune")
@click.option("--model", "model_name", required=True, help="The hf endpoint to tune (name or id).")
@click.option("--output", "output_name", required=True, help="Name of the tuned endpoint (and of the job).")
@click.option("--errors", "errors_text", default="", help="Error names: syntax,type_error,semantic.name,...")
@click.option("--evaluation", "evaluation_ids", type=int, multiple=True, help="Source evaluation (repeatable).")
@click.option(
    "--strategy",
    type=click.Choice(["error_specific", "curriculum", "contrastive"]),
    default="error_specific",
    show_default=True,
)
@click.option("--repair/--no-repair", default=False, help="Inputs carry the failed attempt and its error.")
@click.option("--held-out", type=click.FloatRange(0, 0.95), default=0.2, show_default=True)
@click.option("--epochs", type=click.IntRange(1, 1000), help="Default 3.")
@click.option("--learning-rate", type=click.FloatRange(1e-8, 1.0), help="Default 5e-5.")
@click.option("--batch-size", type=click.IntRange(1, 1024), help="Default 8.")
@click.option("--hyperparameters", "hp_text", help="More hyperparameters as a JSON object.")
@click.option("--compare/--no-compare", default=False, help="Then evaluate tuned vs original on the held-out problems.")
@click.option("--max-tokens", type=click.IntRange(1, 100_000), help="Generation limit for --compare.")
@click.option("--inline/--queue", default=None, help="Train in this process (default without REDIS_URL) or on workers.")
@click.option("--quiet", is_flag=True, help="No per-step lines.")
@project_option
@user_option
def tune(
    model_name,
    output_name,
    errors_text,
    evaluation_ids,
    strategy,
    repair,
    held_out,
    epochs,
    learning_rate,
    batch_size,
    hp_text,
    compare,
    max_tokens,
    inline,
    quiet,
    project_ref,
    username,
):
    """Fine-tune an hf model with LoRA on its failures (filtered by error names) and register the result."""
    setup_django()
    from django.conf import settings

    from codequal.exceptions import ApplicationError
    from codequal.jobs import in_process
    from models_registry.selectors import model_endpoint_get
    from tuning.selectors import comparison_lines, loss_curve, tuning_comparison
    from tuning.services import tuning_dataset_create, tuning_job_compare, tuning_job_create

    from .evaluate import _nothing
    from .evaluate_output import wait_for

    user = resolve_actor(username)
    project = resolve_project(user, project_ref)
    hyperparameters = _hyperparameters(hp_text, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size)
    run_inline = inline if inline is not None else not settings.REDIS_URL
    try:
        endpoint = model_endpoint_get(user=user, project=project, name_or_id=model_name)
        evaluations, models = _source_evaluations(user, project, endpoint, evaluation_ids)
        dataset = tuning_dataset_create(
            actor=user,
            project=project,
            name=f"{output_name}-data",
            evaluations=evaluations,
            strategy=strategy,
            errors=errors_text,
            models=models,
            repair=repair,
            held_out_fraction=held_out,
        )
        counts = dataset.counts
        click.echo(
            f"Dataset {dataset} ({dataset.pk}): {counts['examples']['train']} train / "
            f"{counts['examples']['held_out']} held-out examples; by error type: "
            + ", ".join(f"{k} {sum(v.values())}" for k, v in counts["by_error_type"].items())
        )
        with in_process() if run_inline else _nothing():
            job = tuning_job_create(
                actor=user,
                project=project,
                dataset=dataset,
                base_endpoint=endpoint,
                name=output_name,
                hyperparameters=hyperparameters,
            )
            click.echo(f"Tuning job {job.pk}: {endpoint.name} -> {output_name} (channel tuning:{job.pk})")
            if not run_inline:
                click.echo("Queued on the gpu queue; `codequalbench worker gpu` runs it.")
            job = _wait(job, quiet=quiet)
        if job.status != "completed":
            fail(f"The job is {job.status}: {job.error_message or 'no error recorded'}", code=1)
        curve = loss_curve(job)
        click.echo(
            f"Completed on {job.metrics.get('device')}: {len(curve)} steps, loss {curve[0]['loss']:.4f} -> "
            f"{curve[-1]['loss']:.4f} ({job.metrics.get('steps_per_second')} steps/s); endpoint "
            f"{job.resulting_endpoint.name} registered."
        )
        if compare:
            generation = {"max_tokens": max_tokens} if max_tokens else {}
            with in_process() if run_inline else _nothing():
                evaluation = tuning_job_compare(actor=user, job=job, generation=generation)
                click.echo(f"Comparison: evaluation {evaluation.pk} on {len(evaluation.problem_ids)} held-out problems")
                wait_for(evaluation, user=user)
            job.refresh_from_db()
            for line in comparison_lines(tuning_comparison(job)):
                click.echo(line)
    except ApplicationError as exc:
        click.secho(f"Error: {exc.message}", fg="red", err=True)
        for field, problem in (exc.extra.get("fields") or {}).items():
            click.echo(f"  {field}: {problem}", err=True)
        sys.exit(2)
