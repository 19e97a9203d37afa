"""Prompt strategies: the requests they build for both API styles and the programs they make of realistic outputs."""

import json
import re

import pytest

from models_registry.backends.types import GenerationOptions
from models_registry.extraction import HUMANEVAL_STOP_SEQUENCES, ExtractionMethod
from models_registry.prompting import (
    CHAIN_OF_THOUGHT_COMMENT,
    PROGRAM_STOP_SEQUENCES,
    SYSTEM_PROMPT,
    PromptStrategy,
    PromptTask,
    StrategyError,
    get_strategy,
    register_strategy,
    strategy_names,
)

PROMPT = '''from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    """
'''
ENTRY = "has_close_elements"
BODY = """    for i, a in enumerate(numbers):
        for b in numbers[i + 1 :]:
            if abs(a - b) < threshold:
                return True
    return False
"""
SOLUTION = PROMPT.split("\n\n\n")[1].split('    """')[0].rstrip() + "\n" + BODY
TASK = PromptTask(task_id="HumanEval/0", prompt=PROMPT, entry_point=ENTRY, reference=BODY)
PROSE = PromptTask(
    task_id="custom/1",
    prompt="Write a function shared(a, b) that returns the sorted elements found in both lists.",
    entry_point="shared",
    reference="def shared(a, b):\n    return sorted(set(a) & set(b))\n",
    prompt_is_code=False,
)
EXAMPLES = [
    {"prompt": 'def add(x: int, y: int) -> int:\n    """Add two numbers.\n    >>> add(2, 3)\n    5\n    """\n',
     "completion": "    return x + y\n"},
    {"prompt": 'def is_palindrome(text: str) -> bool:\n    """Whether text reads the same backwards."""\n',
     "completion": "    return text == text[::-1]\n"},
    {"prompt": 'def count_up(n: int) -> list:\n    """The numbers 1 to n."""\n',
     "completion": "    return list(range(1, n + 1))\n"},
    {"prompt": 'def last(items: list):\n    """The last item, or None."""\n',
     "completion": "    return items[-1] if items else None\n"},
]  # fmt: skip
CASES = (([1.0, 2.0, 3.0], 0.5), ([1.0, 2.8, 3.0, 4.0], 0.3))
STRATEGIES = ["zero_shot", "few_shot", "chain_of_thought"]


def run(program: str, entry: str = ENTRY, cases=CASES) -> list:
    namespace: dict = {}
    exec(compile(program, "<program>", "exec"), namespace)  # noqa: S102 - the test's own fixed programs
    return [namespace[entry](*args) for args in cases]


def make(key: str, **params):
    if key == "few_shot":
        params.setdefault("examples", EXAMPLES)
    return get_strategy(key, **params)


@pytest.fixture
def examples_dir(settings, tmp_path):
    settings.SAMPLES_DIR = tmp_path
    return tmp_path


def write(folder, name: str, lines: list) -> str:
    (folder / name).write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return name


# --- requests -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", STRATEGIES)
@pytest.mark.parametrize(
    ("stop", "expected"),
    [(None, HUMANEVAL_STOP_SEQUENCES), ((), HUMANEVAL_STOP_SEQUENCES), (("\n\n\n",), ("\n\n\n",))],
)
def test_completion_requests_stop_at_the_humaneval_sequences_unless_configured(key, stop, expected):
    options = GenerationOptions(temperature=0.2, max_tokens=300, stop=stop)
    request = make(key).build(TASK, api_style="completion", n=5, options=options)
    assert request.options.stop == expected
    assert (request.options.temperature, request.options.max_tokens, request.n) == (0.2, 300, 5)
    assert (request.task_id, request.reference) == ("HumanEval/0", BODY)
    assert request.messages == () and request.system == ""
    assert request.prompt.endswith(PROMPT if key != "chain_of_thought" else PROMPT + "    " + CHAIN_OF_THOUGHT_COMMENT)


@pytest.mark.parametrize("key", STRATEGIES)
@pytest.mark.parametrize("stop", [None, ("\nEND",)])
def test_chat_requests_are_system_and_user_messages_with_the_options_untouched(key, stop):
    options = GenerationOptions(temperature=0.8, stop=stop)
    request = make(key).build(TASK, api_style="chat", n=3, options=options)
    assert request.options == options
    assert (request.task_id, request.reference, request.n) == ("HumanEval/0", BODY, 3)
    messages = request.chat_messages()
    assert messages[0].role == "system" and messages[0].content == SYSTEM_PROMPT == request.system
    assert messages[-1].role == "user" and messages[-1].content == request.prompt
    assert f"```python\n{PROMPT.rstrip()}\n```" in request.prompt
    assert [m.role for m in messages[1:-1]] == (["user", "assistant"] * 3 if key == "few_shot" else [])


def test_zero_shot_completion_is_the_prompt_verbatim():
    request = make("zero_shot").build(TASK, api_style="completion", n=1, options=GenerationOptions())
    assert request.prompt == PROMPT


def test_the_instruct_wrapper_asks_for_one_fenced_function_without_tests():
    user = make("zero_shot").build(TASK, api_style="chat", n=1, options=GenerationOptions()).prompt
    assert user.startswith("Complete the following Python function:\n\n```python\nfrom typing import List\n")
    assert "in a single ```python code block" in user and "Do not include tests, example usage" in user
    assert "step by step" not in user


def test_chain_of_thought_asks_for_reasoning_then_the_function_at_the_end():
    user = make("chain_of_thought").build(TASK, api_style="chat", n=1, options=GenerationOptions()).prompt
    assert "First reason about the problem step by step." in user
    assert "in a single ```python code block at the end of your answer" in user


def test_chain_of_thought_completion_comments_the_body_and_keeps_the_comment_in_the_program():
    strategy = make("chain_of_thought")
    request = strategy.build(TASK, api_style="completion", n=1, options=GenerationOptions())
    assert request.prompt == PROMPT + "    # Let's think step by step.\n"
    result = strategy.postprocess(BODY + "\n\ndef check(candidate):\n    pass\n", TASK, api_style="completion")
    assert result.completion == "    # Let's think step by step.\n" + BODY + "\n"
    assert result.program == PROMPT + result.completion
    assert run(result.program) == [False, True]


def test_an_unknown_api_style_is_refused():
    with pytest.raises(StrategyError, match="completion, chat") as caught:
        make("zero_shot").build(TASK, api_style="edit", n=1, options=GenerationOptions())
    assert caught.value.param == "api_style"


# --- outputs: completion style --------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", STRATEGIES)
@pytest.mark.parametrize(
    "tail",
    [
        "\nclass Test:\n    pass\n",
        "\ndef check(candidate):\n    assert candidate([1.0], 0.1) is False\n",
        "\n# Test the function\n",
        '\nif __name__ == "__main__":\n    print(has_close_elements([1.0], 0.1))\n',
        "\nprint(has_close_elements([1.0, 2.0], 0.5))\n",
    ],
)
def test_completion_output_is_cut_at_each_stop_sequence(key, tail):
    result = make(key).postprocess(BODY + tail, TASK, api_style="completion")
    prefix = "    " + CHAIN_OF_THOUGHT_COMMENT if key == "chain_of_thought" else ""
    assert result.ok and result.method == ExtractionMethod.TEXT_BODY and result.raw == BODY + tail
    assert result.completion == prefix + BODY
    assert result.program == PROMPT + prefix + BODY
    assert run(result.program) == [False, True]


def test_the_stop_sequences_the_request_used_replace_the_defaults():
    raw = BODY + "    # done\n# trailing comment\n\ndef helper():\n    pass\n"
    result = make("zero_shot").postprocess(raw, TASK, api_style="completion", stop=("\ndef",))
    assert result.completion == BODY + "    # done\n# trailing comment\n"
    assert run(result.program) == [False, True]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("", "The model's output is empty."), ("\ndef other():\n    pass\n", "nothing before its first stop sequence")],
)
def test_a_completion_with_nothing_usable_is_an_extraction_failure(raw, reason):
    result = make("zero_shot").postprocess(raw, TASK, api_style="completion")
    assert not result.ok and result.method == ExtractionMethod.FAILED and reason in result.failure
    assert result.raw == raw and result.completion == ""


# --- outputs: chat style ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", STRATEGIES)
@pytest.mark.parametrize(
    ("raw", "method"),
    [
        (f"Here is the implementation:\n\n```python\n{SOLUTION}```\n\nIt compares every pair.", ExtractionMethod.FENCE),
        (f"Sure! Here's a solution.\n\n{SOLUTION}\nThis runs in O(n^2) time.", ExtractionMethod.TEXT),
        (
            f"```python\nfrom typing import List\n\n\n{SOLUTION}\n\nprint({ENTRY}([1.0], 0.5))\n```",
            ExtractionMethod.FENCE,
        ),
        (f"```python\n{BODY}```", ExtractionMethod.FENCE_BODY),
    ],
    ids=["fenced", "unfenced-with-prose", "repeated-signature-and-a-print", "body-only"],
)
def test_chat_output_is_extracted_into_a_program_that_runs(key, raw, method):
    result = make(key).postprocess(raw, TASK, api_style="chat")
    assert result.ok, result.failure
    assert result.method == method and result.raw == raw
    assert result.program == PROMPT + result.completion
    assert result.completion.count(f"def {ENTRY}") == 0 and "print" not in result.completion
    assert run(result.program) == [False, True]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("I'm sorry, I can't help with that.", "No Python code found in the output."),
        ("```python\ndef other(x):\n    return x\n```", f"No code defines {ENTRY}()."),
    ],
)
def test_chat_output_without_the_function_is_a_failure_value_not_an_exception(raw, reason):
    result = make("zero_shot").postprocess(raw, TASK, api_style="chat")
    assert result.method == ExtractionMethod.FAILED and result.failure == reason and result.raw == raw


def test_chain_of_thought_takes_the_final_fenced_function_not_the_draft_in_the_reasoning():
    draft = f"def {ENTRY}(numbers: List[float], threshold: float) -> bool:\n    return True\n"
    raw = (
        "Step 1: a first idea is to always answer True:\n\n"
        f"```python\n{draft}```\n\n"
        "Step 2: that is wrong for spread-out numbers; compare every pair instead.\n\n"
        f"Final answer:\n\n```python\n{SOLUTION}```\n"
    )
    result = make("chain_of_thought").postprocess(raw, TASK, api_style="chat")
    assert result.ok and result.completion == BODY  # the draft's body would make the first case True
    assert run(result.program) == [False, True]


# --- outputs: verbatim backends (samples, reference) ----------------------------------------------------------------
@pytest.mark.parametrize("api_style", ["completion", "chat"])
def test_verbatim_output_is_appended_to_the_prompt_unchanged(api_style):
    raw = BODY + "\n\ndef check(candidate):\n    assert not candidate([1.0], 0.5)\n\nprint('done')\n"
    result = make("zero_shot").postprocess(raw, TASK, api_style=api_style, verbatim=True)
    assert result.ok and result.method == ExtractionMethod.TEXT_BODY
    assert result.completion == raw and result.program == PROMPT + raw


def test_a_verbatim_whole_program_is_kept_whole():
    raw = "from typing import List\n\n\n" + SOLUTION + "\n\nprint('side effect')\n"
    result = make("chain_of_thought").postprocess(raw, TASK, api_style="completion", verbatim=True, program=True)
    assert result.completion == raw and result.program == raw
    prose = make("zero_shot").postprocess(PROSE.reference, PROSE, api_style="completion", verbatim=True)
    assert prose.program == PROSE.reference


# --- prose prompts: the completion is a whole program ------------------------------------------------------------
def test_a_prose_prompt_is_framed_as_a_docstring_and_not_cut_at_a_new_def():
    strategy = make("zero_shot")
    request = strategy.build(PROSE, api_style="completion", n=1, options=GenerationOptions())
    assert request.prompt == f'"""\n{PROSE.prompt}\n"""\n' and request.options.stop == PROGRAM_STOP_SEQUENCES
    raw = "def _both(a, b):\n    return set(a) & set(b)\n\ndef shared(a, b):\n    return sorted(_both(a, b))\n"
    result = strategy.postprocess(raw + "\nassert shared([1], [1]) == [1]\n", PROSE, api_style="completion")
    assert result.completion == raw and result.program == raw
    assert run(result.program, "shared", [([3, 1, 2], [2, 3, 4])]) == [[2, 3]]


def test_a_prose_prompt_in_chat_is_asked_plainly_and_extracted_as_a_whole_program():
    strategy = make("zero_shot")
    user = strategy.build(PROSE, api_style="chat", n=1, options=GenerationOptions()).prompt
    assert user.startswith(f"Write the Python function `shared` for the following task:\n\n{PROSE.prompt}\n\n")
    raw = f"Here you go:\n\n```python\n{PROSE.reference}\nprint(shared([1], [1]))\n```"
    result = strategy.postprocess(raw, PROSE, api_style="chat")
    assert result.ok and result.program == result.completion == PROSE.reference
    assert run(result.program, "shared", [([3, 1, 2], [2, 3, 4])]) == [[2, 3]]


# --- few-shot -----------------------------------------------------------------------------------------------------
def test_few_shot_completion_puts_solved_examples_before_the_prompt():
    request = make("few_shot", count=2).build(TASK, api_style="completion", n=1, options=GenerationOptions())
    first, second = ((e["prompt"] + e["completion"]).rstrip("\n") for e in EXAMPLES[:2])
    assert request.prompt == f"{first}\n\n\n{second}\n\n\n{PROMPT}"
    compile(request.prompt + BODY, "<few-shot>", "exec")


def test_few_shot_chat_answers_each_example_with_its_whole_function_in_a_fence():
    request = make("few_shot", count=2).build(TASK, api_style="chat", n=1, options=GenerationOptions())
    _, user, assistant, user2, assistant2, last = request.messages
    assert "```python\ndef add(x: int, y: int) -> int:" in user.content and "Complete the following" in user.content
    assert assistant.content == "```python\n" + EXAMPLES[0]["prompt"] + EXAMPLES[0]["completion"] + "```"
    assert "is_palindrome" in user2.content and "text[::-1]" in assistant2.content
    assert last.content == request.prompt and PROMPT.rstrip() in last.content


@pytest.mark.parametrize("api_style", ["completion", "chat"])
def test_an_example_that_is_the_task_itself_is_skipped_for_the_next(api_style):
    leaked = [EXAMPLES[0], {"prompt": PROMPT, "completion": BODY}, *EXAMPLES[1:]]
    strategy = make("few_shot", examples=leaked, count=3)
    request = strategy.build(TASK, api_style=api_style, n=1, options=GenerationOptions())
    text = "\n".join(m.content for m in request.messages) if api_style == "chat" else request.prompt
    assert "abs(a - b) < threshold" not in text
    assert all(name in text for name in ("def add(", "def is_palindrome(", "def count_up(")) and "def last(" not in text
    other = PromptTask("HumanEval/9", "def unrelated():\n", "unrelated")
    other_text = strategy.build(other, api_style="completion", n=1, options=GenerationOptions()).prompt
    assert "abs(a - b) < threshold" in other_text  # only the task's own answer is withheld


def test_few_shot_reads_a_jsonl_file_inside_samples_dir(examples_dir):
    name = write(examples_dir, "shots.jsonl", [*EXAMPLES[:2], "", EXAMPLES[2]])
    by_name = get_strategy("few_shot", examples=name)
    by_path = get_strategy("few_shot", examples=str(examples_dir / name))
    assert [e.prompt for e in by_name.examples] == [e["prompt"] for e in EXAMPLES[:3]]
    assert by_name.fingerprint() == by_path.fingerprint() == make("few_shot", examples=EXAMPLES[:3]).fingerprint()


@pytest.mark.parametrize(
    ("lines", "params", "message"),
    [
        (None, {}, "cannot read examples file missing.jsonl: No such file or directory"),
        ([EXAMPLES[0], EXAMPLES[1], '{"prompt": "def f():\\n", '], {}, "shots.jsonl line 3: not valid JSON"),
        ([EXAMPLES[0], {"prompt": "def f():\n"}], {}, "shots.jsonl line 2: field 'completion' is missing"),
        ([EXAMPLES[0], {"prompt": 7, "completion": "x"}], {}, "shots.jsonl line 2: field 'prompt' must be a non-empty"),
        ([EXAMPLES[0], ["prompt", "completion"]], {}, "shots.jsonl line 2: is not a JSON object"),
        (EXAMPLES[:2], {}, "shots.jsonl holds 2 example(s); count is 3"),
        (EXAMPLES[:2], {"count": 2}, None),
    ],
)
def test_few_shot_file_errors_name_the_file_and_the_line(examples_dir, lines, params, message):
    name = "missing.jsonl" if lines is None else write(examples_dir, "shots.jsonl", lines)
    if message is None:
        assert len(get_strategy("few_shot", examples=name, **params).examples) == 2
        return
    with pytest.raises(StrategyError) as caught:
        get_strategy("few_shot", examples=name, **params)
    assert message in str(caught.value) and caught.value.param == "examples"


def test_few_shot_files_outside_samples_dir_are_refused(examples_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    write(outside, "shots.jsonl", EXAMPLES)
    for location in (str(outside / "shots.jsonl"), "../" + outside.name + "/shots.jsonl"):
        with pytest.raises(StrategyError, match="outside it"):
            get_strategy("few_shot", examples=location)


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"count": 0}, "count", "between 1 and 10"),
        ({"count": 11}, "count", "between 1 and 10"),
        ({"count": "3"}, "count", "integer"),
        ({"count": True}, "count", "integer"),
        ({"examples": None}, "examples", "path of a JSONL file or a list"),
        ({"examples": [{"prompt": "def f():\n", "completion": ""}]}, "examples", "examples[0]: field 'completion'"),
        ({"shots": 3}, "shots", "unknown parameter 'shots' (accepted: examples, count)"),
    ],
)
def test_few_shot_parameters_are_validated(params, param, message):
    with pytest.raises(StrategyError, match=re.escape(message)) as caught:
        get_strategy("few_shot", **{"examples": EXAMPLES, **params})
    assert caught.value.param == param


# --- identity -----------------------------------------------------------------------------------------------------
def test_the_fingerprint_changes_with_the_parameters_and_the_examples_content(examples_dir):
    write(examples_dir, "shots.jsonl", EXAMPLES)
    base = get_strategy("few_shot", examples="shots.jsonl", count=3)
    assert len(base.fingerprint()) == 16
    assert get_strategy("few_shot", examples="shots.jsonl", count=3).fingerprint() == base.fingerprint()
    assert get_strategy("few_shot", examples="shots.jsonl", count=2).fingerprint() != base.fingerprint()
    write(examples_dir, "copy.jsonl", EXAMPLES)
    assert get_strategy("few_shot", examples="copy.jsonl").fingerprint() == base.fingerprint()
    edited = [*EXAMPLES[:3], {**EXAMPLES[3], "completion": "    return items[-1]\n"}]
    write(examples_dir, "shots.jsonl", edited)
    assert get_strategy("few_shot", examples="shots.jsonl", count=3).fingerprint() != base.fingerprint()
    keys = {make(key).fingerprint() for key in STRATEGIES}
    assert len(keys) == 3 and make("zero_shot").fingerprint() == get_strategy("zero_shot").fingerprint()


@pytest.mark.parametrize("key", STRATEGIES)
def test_describe_is_json_that_rebuilds_the_same_strategy(key):
    described = json.loads(json.dumps(make(key).describe()))
    assert described["key"] == key and described["fingerprint"] == make(key).fingerprint()
    assert get_strategy(described["key"], **described["params"]).fingerprint() == described["fingerprint"]
    if key == "few_shot":
        assert described["params"]["count"] == 3 and len(described["examples_sha256"]) == 64


# --- registry -----------------------------------------------------------------------------------------------------
def test_the_registry_names_its_strategies_and_refuses_unknown_ones():
    assert {"zero_shot", "few_shot", "chain_of_thought"} <= set(strategy_names())
    assert strategy_names() == sorted(strategy_names())
    with pytest.raises(StrategyError, match=r"No prompt strategy 'three_shot'; known: .*chain_of_thought.*few_shot"):
        get_strategy("three_shot")
    with pytest.raises(StrategyError, match=r"zero_shot: unknown parameter 'count' \(accepted: none\)"):
        get_strategy("zero_shot", count=3)


def test_a_key_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="registered twice"):

        @register_strategy("zero_shot")
        class Another(PromptStrategy):
            pass

    assert type(get_strategy("zero_shot")).__name__ == "ZeroShot"
