"""The ``codequalbench`` command: thin wrappers over the same services the API uses."""

import os
import sys

import click


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codequal.settings")
    import django

    django.setup()


def fail(message: str, code: int = 1):
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="codequalbench")
def main():
    """CodeQualBench: evaluate AI code-generation models in a sandbox and report what they get right and wrong."""


from . import analyze, benchmark, evaluate, models, platform, score, suites, tokens, tune  # noqa: E402

main.add_command(platform.init)
main.add_command(platform.serve)
main.add_command(platform.worker)
main.add_command(platform.status)
main.add_command(platform.manage)
main.add_command(tokens.token)
main.add_command(models.models)
main.add_command(benchmark.benchmark)
main.add_command(suites.suites)
main.add_command(evaluate.evaluate)
main.add_command(evaluate.resume)
main.add_command(analyze.analyze)
main.add_command(score.score)
main.add_command(tune.tune)
