"""An evaluation's configuration: parsed and validated at the edge, stored resolved (pure, no ORM).

Accepted shape (the CLI's ``--config`` YAML and the API's body are the same mapping)::

    models: [codellama:7b, starcoder:1b]
    problems: {suite: humaneval, version: 2, range: 0-100, filter: {difficulty: [easy, medium], category: [...]}}
    evaluation: {samples_per_problem: 5, timeout_seconds: 30, max_memory_mb: 512, parallel_execution: true, ...}
    generation: {temperature: 0.2, top_p: 0.95, max_tokens: 512, stop: [...], seed: 1234}
    prompting: {strategies: [zero_shot], few_shot: {examples: path-or-list, count: 3}}
    metrics: {enable: [quality_metrics], k: [1, 10, 100]}
    output: {format: json, include_raw: true}
"""

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from models_registry.backends import GenerationOptions, OptionsError

DEFAULT_METRICS = ("quality_metrics",)
OUTPUT_FORMATS = ("json", "csv", "jsonl")
TIMEOUT_MODES = ("fixed", "relative", "suite")
MAX_SAMPLES_PER_PROBLEM = 1000
_RANGE_ITEM = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
SECTIONS = ("models", "problems", "evaluation", "generation", "prompting", "metrics", "output", "name")


class ConfigError(ValueError):
    """Invalid configuration; ``errors`` maps each dotted field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ProblemSelection:
    suite: str
    version: int | None = None
    indices: tuple[int, ...] | None = None  # None: all problems
    task_ids: tuple[str, ...] = ()
    difficulty: tuple[str, ...] = ()
    category: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunConfig:
    models: tuple[str, ...]
    problems: ProblemSelection
    samples_per_problem: int = 1
    samples_from_file: bool = False  # fixed-sample backends: every sample the file holds (capped by the above if set)
    timeout_mode: str = "suite"  # suite: each problem's own limit; fixed: timeout_seconds; relative: x canonical
    timeout_seconds: float | None = None
    timeout_factor: float = 4.0
    min_timeout_seconds: float = 1.0
    max_memory_mb: int = 512
    parallel_execution: bool = True
    max_concurrent: int | None = None
    retry_attempts: int = 2
    chunk_size: int = 20
    reexecute_failures: int = 0
    reexecute_timeout_multiplier: float = 2.0
    generation: dict = field(default_factory=dict)
    strategies: tuple[str, ...] = ("zero_shot",)
    strategy_params: dict = field(default_factory=dict)
    metrics: tuple[str, ...] = ("quality_metrics",)
    metric_params: dict = field(default_factory=dict)  # metric name -> its parameters
    k: tuple[int, ...] = (1, 10, 100)
    bootstrap_resamples: int = 2000
    seed: int = 0
    output_format: str = "json"
    include_raw: bool = True

    def as_dict(self) -> dict:
        data = asdict(self)
        data["problems"] = {k: list(v) if isinstance(v, tuple) else v for k, v in data["problems"].items()}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_stored(cls, data: Mapping) -> "RunConfig":
        """The config back from ``as_dict()`` (what an evaluation row stores; it was validated at creation)."""
        names = {f for f in cls.__dataclass_fields__}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        problems = {k: tuple(v) if isinstance(v, list) else v for k, v in data["problems"].items()}
        values["problems"] = ProblemSelection(**problems)
        return cls(**values)

    @property
    def options(self) -> GenerationOptions:
        return GenerationOptions.from_mapping(self.generation)


def parse_range(text, errors: dict, where: str) -> tuple[int, ...] | None:
    """``all``, ``0-10`` (inclusive), ``3``, ``1,4,7-9`` or a list of integers; None means every problem."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "all")):
        return None
    items = text if isinstance(text, list | tuple) else str(text).split(",")
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            errors[where] = f"{item!r} is not a problem index or range."
            return None
        match = _RANGE_ITEM.match(str(item))
        if not match:
            errors[where] = f"{item!r} is not a problem index or range like 0-10."
            return None
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            errors[where] = f"{item!r}: the range ends before it starts."
            return None
        if high - low > 1_000_000:
            errors[where] = f"{item!r}: range too large."
            return None
        out.extend(range(low, high + 1))
    return tuple(sorted(set(out)))


def _strings(value, errors, where) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        errors[where] = "Must be a list of non-empty strings."
        return ()
    return tuple(v.strip() for v in value)


def _number(section: Mapping, name: str, errors: dict, where: str, *, kind, low, high, default):
    value = section.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not float(value).is_integer()):
        errors[f"{where}.{name}"] = f"Must be {'a whole number' if kind is int else 'a number'}."
        return default
    if not low <= value <= high:
        errors[f"{where}.{name}"] = f"Must be between {low} and {high}."
        return default
    return kind(value)


def _section(data: Mapping, name: str, errors: dict) -> Mapping:
    value = data.get(name) or {}
    if not isinstance(value, Mapping):
        errors[name] = "Must be a mapping."
        return {}
    return value


def _unknown(section: Mapping, known: set[str], where: str, errors: dict) -> None:
    for key in sorted(set(section) - known):
        errors[f"{where}.{key}" if where else key] = f"Unknown setting (known: {', '.join(sorted(known))})."


def _problems(data: Mapping, errors: dict) -> ProblemSelection:
    raw = data.get("problems")
    if isinstance(raw, str):
        raw = {"suite": raw}
    if not isinstance(raw, Mapping):
        errors["problems"] = "Required: a mapping with at least 'suite'."
        return ProblemSelection(suite="")
    _unknown(raw, {"suite", "version", "range", "task_ids", "filter"}, "problems", errors)
    suite = raw.get("suite")
    if not isinstance(suite, str) or not suite.strip():
        errors["problems.suite"] = "Required: the suite's name, e.g. humaneval."
        suite = ""
    version = _number(raw, "version", errors, "problems", kind=int, low=1, high=1_000_000, default=None)
    where_filter = raw.get("filter") or {}
    if not isinstance(where_filter, Mapping):
        errors["problems.filter"] = "Must be a mapping with difficulty and/or category lists."
        where_filter = {}
    _unknown(where_filter, {"difficulty", "category"}, "problems.filter", errors)
    return ProblemSelection(
        suite=suite.strip(),
        version=version,
        indices=parse_range(raw.get("range"), errors, "problems.range"),
        task_ids=_strings(raw.get("task_ids"), errors, "problems.task_ids"),
        difficulty=_strings(where_filter.get("difficulty"), errors, "problems.filter.difficulty"),
        category=_strings(where_filter.get("category"), errors, "problems.filter.category"),
    )


def parse_config(data: Mapping) -> RunConfig:
    """Validate a configuration mapping; raises ConfigError naming every bad field."""
    if not isinstance(data, Mapping):
        raise ConfigError({"config": "Must be a mapping (JSON object or YAML document)."})
    errors: dict[str, str] = {}
    _unknown(data, set(SECTIONS), "", errors)
    models = _strings(data.get("models"), errors, "models")
    if not models and "models" not in errors:
        errors["models"] = "Required: at least one model endpoint."
    if len(set(models)) != len(models):
        errors["models"] = "Each model may be listed once."
    problems = _problems(data, errors)

    run = _section(data, "evaluation", errors)
    _unknown(
        run,
        {
            "samples_per_problem",
            "timeout_seconds",
            "timeout_mode",
            "timeout_factor",
            "min_timeout_seconds",
            "max_memory_mb",
            "parallel_execution",
            "max_concurrent",
            "retry_attempts",
            "chunk_size",
            "reexecute_failures",
            "reexecute_timeout_multiplier",
            "bootstrap_resamples",
            "seed",
            "samples_from_file",
        },
        "evaluation",
        errors,
    )
    n = _number(
        run, "samples_per_problem", errors, "evaluation", kind=int, low=1, high=MAX_SAMPLES_PER_PROBLEM, default=1
    )
    timeout = _number(run, "timeout_seconds", errors, "evaluation", kind=float, low=0.1, high=3600, default=None)
    mode = run.get("timeout_mode") or ("fixed" if timeout is not None else "suite")
    if mode not in TIMEOUT_MODES:
        errors["evaluation.timeout_mode"] = f"One of {', '.join(TIMEOUT_MODES)}."
    if mode == "fixed" and timeout is None:
        errors["evaluation.timeout_seconds"] = "Required with timeout_mode fixed."
    for flag in ("parallel_execution", "samples_from_file"):
        if flag in run and not isinstance(run[flag], bool):
            errors[f"evaluation.{flag}"] = "Must be true or false."

    generation = _section(data, "generation", errors)
    try:
        generation = GenerationOptions.from_mapping(generation).to_dict()
    except OptionsError as exc:
        errors.update({f"generation.{k}": v for k, v in exc.errors.items()})
        generation = {}

    prompting = _section(data, "prompting", errors)
    strategies = _strings(prompting.get("strategies", ["zero_shot"]), errors, "prompting.strategies") or ("zero_shot",)
    strategy_params = {k: v for k, v in prompting.items() if k != "strategies"}
    for key, params in strategy_params.items():
        if not isinstance(params, Mapping):
            errors[f"prompting.{key}"] = "Must be a mapping of that strategy's parameters."
    _check_strategies(strategies, strategy_params, errors)

    metrics_section = _section(data, "metrics", errors)
    metrics, metric_params = _metrics(metrics_section, errors)
    k = metrics_section.get("k", [1, 10, 100])
    if isinstance(k, int) and not isinstance(k, bool):
        k = [k]
    if not isinstance(k, list | tuple) or not k or not all(isinstance(v, int) and not isinstance(v, bool) for v in k):
        errors["metrics.k"] = "Must be a list of whole numbers, e.g. [1, 10, 100]."
        k = [1]
    elif any(not 1 <= v <= MAX_SAMPLES_PER_PROBLEM for v in k):
        errors["metrics.k"] = f"Each k must be between 1 and {MAX_SAMPLES_PER_PROBLEM}."

    output = _section(data, "output", errors)
    _unknown(output, {"format", "include_raw"}, "output", errors)
    output_format = output.get("format", "json")
    if output_format not in OUTPUT_FORMATS:
        errors["output.format"] = f"One of {', '.join(OUTPUT_FORMATS)}."
    if "include_raw" in output and not isinstance(output["include_raw"], bool):
        errors["output.include_raw"] = "Must be true or false."

    config = RunConfig(
        models=models,
        problems=problems,
        samples_per_problem=n,
        samples_from_file=bool(run.get("samples_from_file", False)),
        timeout_mode=mode,
        timeout_seconds=timeout,
        timeout_factor=_number(run, "timeout_factor", errors, "evaluation", kind=float, low=1, high=100, default=4.0),
        min_timeout_seconds=_number(
            run, "min_timeout_seconds", errors, "evaluation", kind=float, low=0.1, high=600, default=1.0
        ),
        max_memory_mb=_number(run, "max_memory_mb", errors, "evaluation", kind=int, low=16, high=65536, default=512),
        parallel_execution=bool(run.get("parallel_execution", True)),
        max_concurrent=_number(run, "max_concurrent", errors, "evaluation", kind=int, low=1, high=256, default=None),
        retry_attempts=_number(run, "retry_attempts", errors, "evaluation", kind=int, low=0, high=10, default=2),
        chunk_size=_number(run, "chunk_size", errors, "evaluation", kind=int, low=1, high=1000, default=20),
        reexecute_failures=_number(
            run, "reexecute_failures", errors, "evaluation", kind=int, low=0, high=10, default=0
        ),
        reexecute_timeout_multiplier=_number(
            run, "reexecute_timeout_multiplier", errors, "evaluation", kind=float, low=1, high=10, default=2.0
        ),
        generation=generation,
        strategies=strategies,
        strategy_params={k: dict(v) for k, v in strategy_params.items() if isinstance(v, Mapping)},
        metrics=metrics,
        metric_params=metric_params,
        k=tuple(sorted(set(k))),
        bootstrap_resamples=_number(
            run, "bootstrap_resamples", errors, "evaluation", kind=int, low=100, high=100_000, default=2000
        ),
        seed=_number(run, "seed", errors, "evaluation", kind=int, low=0, high=2**31 - 1, default=0),
        output_format=output_format,
        include_raw=bool(output.get("include_raw", True)),
    )
    if errors:
        raise ConfigError(errors)
    return config


def _check_strategies(strategies, params, errors) -> None:
    from models_registry.prompting import StrategyError, get_strategy

    if len(set(strategies)) != len(strategies):
        errors["prompting.strategies"] = "Each strategy may be listed once."
        return
    for name in strategies:
        try:
            get_strategy(name, **dict(params.get(name) or {}))
        except StrategyError as exc:
            errors[f"prompting.{name}"] = str(exc)
        except TypeError as exc:
            errors[f"prompting.{name}"] = f"Bad parameters: {exc}"


def _metrics(section: Mapping, errors: dict) -> tuple[tuple[str, ...], dict]:
    """``enable`` (registered metric names) and each enabled metric's parameters (``metrics: {codebleu: {...}}``)."""
    from evaluations.metrics import MetricError, get_metric, metric_names

    known = set(metric_names())
    _unknown(section, {"enable", "k"} | known, "metrics", errors)
    enabled = _strings(section.get("enable", list(DEFAULT_METRICS)), errors, "metrics.enable")
    params = {}
    for name in enabled:
        if name not in known:
            errors["metrics.enable"] = f"Unknown metric {name!r}; known: {', '.join(sorted(known))}."
            continue
        given = section.get(name) or {}
        if not isinstance(given, Mapping):
            errors[f"metrics.{name}"] = "Must be a mapping of that metric's parameters."
            continue
        try:
            get_metric(name, **dict(given))
        except (MetricError, TypeError, ValueError) as exc:
            errors[f"metrics.{name}"] = str(exc)
            continue
        if given:
            params[name] = dict(given)
    return enabled, params
