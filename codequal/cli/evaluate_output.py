"""What ``codequalbench evaluate`` shows: a live progress bar while it waits, then the per-model table."""

import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

POLL_S = 0.25


def wait_for(evaluation, *, user):
    """Poll the row until the run ends, drawing progress; Ctrl-C cancels the run (resume it later)."""
    from evaluations.runs.services import evaluation_cancel

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    reported = -1
    try:
        with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as progress:
            task = progress.add_task("samples", total=evaluation.total_samples or None, rate="")
            while True:
                evaluation.refresh_from_db()
                elapsed = max(1e-6, time.monotonic() - started)
                rate = f"{evaluation.completed_samples / elapsed:.1f}/s"
                label = evaluation.current_model or "starting"
                progress.update(task, completed=evaluation.completed_samples, description=label, rate=rate)
                if not console.is_terminal:
                    reported = _log_line(evaluation, elapsed, reported)
                if evaluation.is_finished:
                    break
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        evaluation = evaluation_cancel(actor=user, evaluation=evaluation)
        click.secho(
            f"Cancelled evaluation {evaluation.pk}; `codequalbench resume {evaluation.pk}` continues it.",
            fg="yellow",
            err=True,
        )
    return evaluation


def _log_line(evaluation, elapsed: float, reported: int) -> int:
    """Without a terminal (CI logs), one line per tenth of the run, with the rate and the time left."""
    total = evaluation.total_samples or 1
    tenth = evaluation.completed_samples * 10 // total
    if tenth <= reported:
        return reported
    rate = evaluation.completed_samples / elapsed
    left = (total - evaluation.completed_samples) / rate if rate else None
    eta = f", about {left:.0f}s left" if left is not None and evaluation.completed_samples < total else ""
    click.echo(f"  {evaluation.completed_samples}/{evaluation.total_samples} samples ({rate:.1f}/s){eta}", err=True)
    return tenth


def summary_table(by_model: dict, ks) -> Table:
    table = Table(title="Results by model")
    table.add_column("model")
    for k in ks:
        table.add_column(f"pass@{k} [95% CI]", justify="right")
    for column in ("pass rate", "samples", "errors", "top error"):
        table.add_column(column, justify="right")
    for name, block in by_model.items():
        cells = []
        for k in ks:
            value = block["pass_at_k"].get(f"pass@{k}")
            ci = block["confidence_intervals"].get(f"pass@{k}")
            cells.append("n/a" if value is None else f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")
        categories = block.get("error_categories") or {}
        top = max(categories, key=categories.get) if categories else ""
        table.add_row(
            name,
            *cells,
            f"{block['pass_rate']:.3f}",
            str(block["samples"]),
            f"{block['error_rate']:.3f}",
            f"{top} ({categories[top]})" if top else "-",
        )
    return table


def report(evaluation, *, output: str | None, threshold: float | None) -> int:
    """Print the table, write ``output``; the exit status: 0, 1 below the threshold, 2 when the run failed."""
    from evaluations.runs.results import evaluation_document

    from .evaluate import write_results

    document = evaluation_document(evaluation)
    console = Console()
    reported = {key for block in document["by_model"].values() for key in block["pass_at_k"]}
    ks = [k for k in document["summary"].get("k") or [1] if f"pass@{k}" in reported] or [1]
    console.print(summary_table(document["by_model"], ks))
    summary = document["summary"]
    console.print(
        f"{summary['total_evaluations']} samples on {summary['total_problems']} problems, "
        f"overall pass rate {summary['overall_pass_rate']:.3f}; status {evaluation.status}."
    )
    if output:
        write_results(document, output)
        console.print(f"Results written to {output}")
    if evaluation.status != "completed":
        click.secho(f"Evaluation {evaluation.pk} {evaluation.status}: {evaluation.error_message}", fg="red", err=True)
        return 2
    if threshold is not None:
        below = {n: b["pass_rate"] for n, b in document["by_model"].items() if b["pass_rate"] < threshold}
        if below:
            listed = ", ".join(f"{n} {rate:.3f}" for n, rate in below.items())
            click.secho(f"Below the threshold {threshold}: {listed}", fg="red", err=True)
            return 1
    return 0
