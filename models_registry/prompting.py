"""Prompt strategies: how a benchmark problem becomes a generation request, and how the output becomes a program.

A strategy registers under a key (``@register_strategy("zero_shot")``) and takes JSON parameters. ``build`` makes the
request for an endpoint's API style: completion endpoints continue a text and are cut at stop sequences; chat
endpoints get messages from the instruct wrapper shared by every strategy, and their answers go through
``extract_code``. ``postprocess`` keeps the raw output beside the extracted code; an output with nothing usable is an
``ExtractionResult`` whose ``failure`` says why, never an exception. ``fingerprint`` is part of the generation cache
key: it changes whenever the text sent to a model could.
"""

import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from .backends.types import ChatMessage, GenerationOptions, GenerationRequest
from .choices import ApiStyle
from .extraction import HUMANEVAL_STOP_SEQUENCES, ExtractionMethod, ExtractionResult, extract_code, truncate_at_stop

# Bump when any wording below changes: the fingerprint (and so the generation cache) must change with it.
TEMPLATE_VERSION = 1
# Prose prompts: a completion model writes a whole program, so a new ``def`` must not end it (the stop sequences of
# the bigcode-evaluation-harness MBPP task, which frames the description as a docstring the same way).
PROGRAM_STOP_SEQUENCES = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n```")
SYSTEM_PROMPT = (
    "You are an expert Python programmer. You write correct, efficient, idiomatic Python 3 and answer with code."
)
CHAIN_OF_THOUGHT_COMMENT = "# Let's think step by step.\n"
MAX_EXAMPLES_BYTES = 4 << 20
MAX_EXAMPLE_COUNT = 10
_DEFINITION = re.compile(r"^[ \t]*(?:async\s+)?def\s+(\w+)\s*\(", re.M)
_STYLES = (ApiStyle.COMPLETION.value, ApiStyle.CHAT.value)


class StrategyError(ValueError):
    """A strategy that cannot be built as configured; the message names the parameter (``param``)."""

    def __init__(self, message: str, *, param: str = ""):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class PromptTask:
    """What a strategy knows about a problem."""

    task_id: str
    prompt: str  # the benchmark prompt (HumanEval: imports, signature and docstring)
    entry_point: str
    reference: str = ""  # the canonical completion (for the ``reference`` backend)
    prompt_is_code: bool = True  # False: the prompt is prose and the completion is a whole program


# --- the instruct wrapper (every strategy's chat style) -------------------------------------------------------------
def _defines(code: str, name: str) -> bool:
    pattern = re.escape(name) if name else r"\w+"
    return re.search(rf"^[ \t]*(async\s+)?def\s+{pattern}\s*\(", code, re.M) is not None


def instruct_user_message(prompt: str, *, entry_point: str, prompt_is_code: bool, step_by_step: bool = False) -> str:
    """The user's message asking a chat model for the function ``prompt`` specifies."""
    named = f" `{entry_point}`" if entry_point else ""
    if not prompt_is_code:
        ask = f"Write the Python function{named} for the following task:\n\n{prompt.strip()}"
    elif _defines(prompt, entry_point):
        ask = f"Complete the following Python function:\n\n{_fenced(prompt)}"
    else:
        ask = f"Write the Python function{named} described below:\n\n{_fenced(prompt)}"
    what = "the complete function (its signature, body and any imports or helpers it needs)"
    if step_by_step:
        answer = (
            f"First reason about the problem step by step. Then give {what} in a single ```python code block at the "
            "end of your answer. Do not put tests or example usage in that block."
        )
    else:
        answer = f"Give {what} in a single ```python code block. Do not include tests, example usage or explanations."
    return f"{ask}\n\n{answer}"


def _fenced(code: str) -> str:
    code = code.strip("\n")
    return f"```python\n{code}\n```"


def _as_docstring(prose: str) -> str:
    return '"""\n' + prose.strip("\n").replace('"""', r"\"\"\"") + '\n"""\n'


def _body_indent(task: PromptTask) -> str:
    """The indentation of the entry point's body when the prompt ends inside it, else none (top level)."""
    if not task.prompt_is_code or not _defines(task.prompt, task.entry_point):
        return ""
    after_def = task.prompt[re.search(rf"def\s+{re.escape(task.entry_point)}\s*\(", task.prompt).end() :]
    match = re.search(r"\n([ \t]+)\S", after_def)
    return match.group(1) if match else "    "


# --- strategies ---------------------------------------------------------------------------------------------------
_STRATEGIES: dict[str, type["PromptStrategy"]] = {}


def register_strategy(key: str):
    """Class decorator: ``@register_strategy("zero_shot")``."""

    def decorator(cls):
        if key in _STRATEGIES and _STRATEGIES[key] is not cls:
            raise ValueError(f"Strategy {key!r} is registered twice ({_STRATEGIES[key].__name__}, {cls.__name__}).")
        cls.key = key
        _STRATEGIES[key] = cls
        return cls

    return decorator


def get_strategy(key: str, **params) -> "PromptStrategy":
    """The strategy ``key`` with ``params`` validated; raises StrategyError."""
    try:
        cls = _STRATEGIES[key]
    except (KeyError, TypeError):
        raise StrategyError(
            f"No prompt strategy {key!r}; known: {', '.join(strategy_names())}.", param="strategy"
        ) from None
    return cls(**params)


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def _style(api_style: str) -> str:
    if api_style not in _STYLES:
        raise StrategyError(f"API style must be one of {', '.join(_STYLES)}, not {api_style!r}.", param="api_style")
    return api_style


class PromptStrategy:
    """Base: zero-shot behaviour; subclasses change the completion text, the chat messages or the parameters."""

    key: ClassVar[str]
    accepted: ClassVar[tuple[str, ...]] = ()  # parameter names
    step_by_step: ClassVar[bool] = False  # the instruct wrapper asks for reasoning before the code

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.accepted))
        if unknown:
            known = ", ".join(self.accepted) or "none"
            raise StrategyError(f"{self.key}: unknown parameter {unknown[0]!r} (accepted: {known}).", param=unknown[0])
        self.params = self._clean(params)

    def _clean(self, params: dict) -> dict:
        """The parameters validated and with defaults filled in, as JSON."""
        return {}

    # -- requests --
    def default_stop(self, task: PromptTask) -> tuple[str, ...]:
        return HUMANEVAL_STOP_SEQUENCES if task.prompt_is_code else PROGRAM_STOP_SEQUENCES

    def build(self, task: PromptTask, *, api_style: str, n: int, options: GenerationOptions) -> GenerationRequest:
        """The request for ``n`` samples of ``task``; only completion style sets stop sequences."""
        if _style(api_style) == ApiStyle.CHAT:
            messages = (ChatMessage("system", SYSTEM_PROMPT), *self._chat_turns(task))
            return GenerationRequest(
                prompt=messages[-1].content,
                n=n,
                options=options,
                system=SYSTEM_PROMPT,
                messages=messages,
                task_id=task.task_id,
                reference=task.reference,
            )
        return GenerationRequest(
            prompt=self._completion_text(task),
            n=n,
            options=replace(options, stop=options.stop or self.default_stop(task)),
            task_id=task.task_id,
            reference=task.reference,
        )

    def _task_text(self, task: PromptTask) -> str:
        """The task as a completion model continues it: the prompt verbatim, prose framed as a docstring."""
        text = task.prompt if task.prompt_is_code else _as_docstring(task.prompt)
        return text + self._completion_prefix(task)

    def _completion_text(self, task: PromptTask) -> str:
        return self._task_text(task)

    def _completion_prefix(self, task: PromptTask) -> str:
        """Text the strategy writes after the prompt; it belongs to the completion (and so to the program)."""
        return ""

    def _chat_turns(self, task: PromptTask) -> tuple[ChatMessage, ...]:
        return (ChatMessage("user", self._user_message(task.prompt, task.entry_point, task.prompt_is_code)),)

    def _user_message(self, prompt: str, entry_point: str, prompt_is_code: bool) -> str:
        return instruct_user_message(
            prompt, entry_point=entry_point, prompt_is_code=prompt_is_code, step_by_step=self.step_by_step
        )

    # -- outputs --
    def postprocess(
        self,
        raw: str,
        task: PromptTask,
        *,
        api_style: str,
        verbatim: bool = False,
        program: bool = False,
        stop: tuple[str, ...] | None = None,
    ) -> ExtractionResult:
        """The completion and program in ``raw``, or why there is none.

        ``verbatim`` (the ``samples`` and ``reference`` backends): ``raw`` is the completion as given, method
        TEXT_BODY; ``program`` (or a prose prompt) means it is the whole program. ``stop``: the stop sequences the
        request was sent with (``request.options.stop``); None means this strategy's defaults.
        """
        whole = program or not task.prompt_is_code
        if verbatim:
            return ExtractionResult(raw, raw, raw if whole else task.prompt + raw, ExtractionMethod.TEXT_BODY)
        if _style(api_style) == ApiStyle.CHAT:
            return extract_code(raw, prompt=task.prompt if task.prompt_is_code else "", entry_point=task.entry_point)
        if not raw.strip():
            return _failed(raw, "The model's output is empty.")
        cut = truncate_at_stop(raw, tuple(stop) if stop else self.default_stop(task))
        if not cut.strip():
            return _failed(raw, "The model's output has nothing before its first stop sequence.")
        completion = self._completion_prefix(task) + cut
        return ExtractionResult(
            raw, completion, completion if whole else task.prompt + completion, ExtractionMethod.TEXT_BODY
        )

    # -- identity --
    def _identity(self) -> dict:
        """What the text sent to a model depends on, besides the task."""
        return dict(self.params)

    def fingerprint(self) -> str:
        identity = {"key": self.key, "params": self._identity(), "template": TEMPLATE_VERSION}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> dict:
        """Key, parameters (``get_strategy(d["key"], **d["params"])`` rebuilds it) and fingerprint, as JSON."""
        return {"key": self.key, "params": self.params, "fingerprint": self.fingerprint()}


def _failed(raw: str, reason: str) -> ExtractionResult:
    return ExtractionResult(raw, "", "", ExtractionMethod.FAILED, failure=reason)


@register_strategy("zero_shot")
class ZeroShot(PromptStrategy):
    """The prompt alone (completion style) or in the instruct wrapper (chat style)."""


@register_strategy("chain_of_thought")
class ChainOfThought(PromptStrategy):
    """Chat: reasoning first, the final function in the last fenced block. Completion: a step-by-step comment."""

    step_by_step = True

    def _completion_prefix(self, task: PromptTask) -> str:
        newline = "" if not task.prompt_is_code or task.prompt.endswith("\n") else "\n"
        return newline + _body_indent(task) + CHAIN_OF_THOUGHT_COMMENT


# --- few-shot examples --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    prompt: str
    completion: str


def _examples_from_rows(rows, where) -> list[Example]:
    """``rows``: (location, decoded JSON) pairs; ``where`` names the source in messages."""
    examples = []
    for location, row in rows:
        if not isinstance(row, dict):
            raise StrategyError(f"few_shot: {where(location)}: is not a JSON object.", param="examples")
        for name in ("prompt", "completion"):
            if name not in row:
                raise StrategyError(f"few_shot: {where(location)}: field {name!r} is missing.", param="examples")
            if not isinstance(row[name], str) or not row[name].strip():
                raise StrategyError(
                    f"few_shot: {where(location)}: field {name!r} must be a non-empty string.", param="examples"
                )
        examples.append(Example(row["prompt"], row["completion"]))
    return examples


def _examples_root() -> Path:
    from django.conf import settings

    return Path(settings.SAMPLES_DIR).resolve()


def read_examples_file(location: str) -> list[Example]:
    """The examples of a JSONL file inside SAMPLES_DIR (relative paths are taken from there); raises StrategyError."""
    root = _examples_root()
    candidate = Path(location.strip())
    path = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not path.is_relative_to(root):
        raise StrategyError(
            f"few_shot: examples files are read from {root} only (SAMPLES_DIR); {location!r} is outside it.",
            param="examples",
        )
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_EXAMPLES_BYTES + 1)
    except OSError as exc:
        raise StrategyError(
            f"few_shot: cannot read examples file {location}: {exc.strerror or exc}.", param="examples"
        ) from exc
    if len(data) > MAX_EXAMPLES_BYTES:
        raise StrategyError(f"few_shot: {location} is larger than {MAX_EXAMPLES_BYTES >> 20} MiB.", param="examples")
    rows = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise StrategyError(
                f"few_shot: {location} line {number}: not valid JSON ({reason}).", param="examples"
            ) from None
    return _examples_from_rows(rows, lambda number: f"{location} line {number}")


def _example_entry_point(example: Example) -> str:
    """The function an example solves: the prompt's last definition, else the completion's first."""
    in_prompt = _DEFINITION.findall(example.prompt)
    in_completion = _DEFINITION.findall(example.completion)
    return in_prompt[-1] if in_prompt else (in_completion[0] if in_completion else "")


@register_strategy("few_shot")
class FewShot(PromptStrategy):
    """Solved examples before the task: ``examples`` (a JSONL file or a list of {"prompt", "completion"}), ``count``."""

    accepted = ("examples", "count")

    def _clean(self, params: dict) -> dict:
        count = params.get("count", 3)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_EXAMPLE_COUNT:
            raise StrategyError(f"few_shot: count must be an integer between 1 and {MAX_EXAMPLE_COUNT}.", param="count")
        source = params.get("examples")
        if isinstance(source, str) and source.strip():
            self.examples = read_examples_file(source)
            where = source
        elif isinstance(source, list):
            self.examples = _examples_from_rows(enumerate(source), lambda index: f"examples[{index}]")
            where = "the examples list"
        else:
            raise StrategyError(
                "few_shot: examples must be the path of a JSONL file or a list of {prompt, completion} objects.",
                param="examples",
            )
        if len(self.examples) < count:
            raise StrategyError(
                f"few_shot: {where} holds {len(self.examples)} example(s); count is {count}.", param="examples"
            )
        pairs = [[e.prompt, e.completion] for e in self.examples]
        self.examples_sha256 = hashlib.sha256(json.dumps(pairs).encode()).hexdigest()
        return {"examples": source, "count": count}

    def chosen(self, task: PromptTask) -> list[Example]:
        """The first ``count`` examples that are not the task itself (its answer must not leak into the prompt)."""
        own = task.prompt.strip()
        return [e for e in self.examples if e.prompt.strip() != own][: self.params["count"]]

    def _completion_text(self, task: PromptTask) -> str:
        shots = [
            (e.prompt + e.completion if task.prompt_is_code else _as_docstring(e.prompt) + e.completion).strip("\n")
            for e in self.chosen(task)
        ]
        return "\n\n\n".join(shots) + "\n\n\n" + self._task_text(task)

    def _chat_turns(self, task: PromptTask) -> tuple[ChatMessage, ...]:
        turns = []
        for example in self.chosen(task):
            answer = example.prompt + example.completion if task.prompt_is_code else example.completion
            user = self._user_message(example.prompt, _example_entry_point(example), task.prompt_is_code)
            turns += [ChatMessage("user", user), ChatMessage("assistant", _fenced(answer))]
        return (*turns, *super()._chat_turns(task))

    def _identity(self) -> dict:
        # The examples' content, not the file's name: an edited file changes the prompts, a moved one does not.
        return {"count": self.params["count"], "examples_sha256": self.examples_sha256}

    def describe(self) -> dict:
        return {**super().describe(), "examples_sha256": self.examples_sha256}
