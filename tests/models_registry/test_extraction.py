"""Code extraction from realistic chat-model outputs: each result must compile with the prompt and run as intended."""

import ast

import pytest

from models_registry.extraction import (
    HUMANEVAL_STOP_SEQUENCES,
    ExtractionMethod,
    extract_code,
    fenced_blocks,
    truncate_at_stop,
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
SOLUTION = """def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False"""


def run(result, *calls):
    """Execute the program and return what each call gives; fails on any print or stray top-level statement."""
    tree = ast.parse(result.program)
    definitions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == ENTRY]
    assert len(definitions) == (2 if result.signature_changed else 1)
    allowed = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
    assert all(isinstance(n, allowed) for n in tree.body), ast.dump(tree)[:300]
    namespace: dict = {}
    exec(compile(result.program, "<program>", "exec"), namespace)  # noqa: S102 - the test's own fixed programs
    return [namespace[ENTRY](*args) for args in calls]


def check(result, method=None):
    assert result.ok, result.failure
    assert result.program == PROMPT + result.completion
    if method is not None:
        assert result.method == method
    assert run(result, ([1.0, 2.0, 3.0], 0.5), ([1.0, 2.8, 3.0, 4.0], 0.3)) == [False, True]


def test_a_fence_with_the_signature_repeated_keeps_only_the_models_body():
    raw = f"Here is the implementation:\n\n```python\n{SOLUTION}\n```\n\nIt compares every pair."
    result = extract_code(raw, prompt=PROMPT, entry_point=ENTRY)
    check(result, ExtractionMethod.FENCE)
    assert result.completion.startswith("    for i, a in enumerate(numbers):")
    assert "def has_close_elements" not in result.completion and result.raw == raw


def test_the_docstring_repeated_by_the_model_is_not_duplicated():
    with_doc = SOLUTION.replace(":\n    for", ':\n    """Closer than threshold?"""\n    for', 1)
    result = extract_code(f"```py\n{with_doc}\n```", prompt=PROMPT, entry_point=ENTRY)
    check(result)
    assert "Closer than threshold" not in result.completion


def test_the_fence_with_the_entry_point_is_preferred_over_a_fence_of_tests():
    raw = (
        "```python\nprint(has_close_elements([1.0], 0.1))\n```\n\nSolution:\n\n```python\n"
        f"{SOLUTION}\n```\n\nTests:\n\n```python\nassert has_close_elements([1.0, 1.05], 0.1)\n```\n"
    )
    result = extract_code(raw, prompt=PROMPT, entry_point=ENTRY)
    check(result, ExtractionMethod.FENCE)
    assert "assert" not in result.completion and "print" not in result.completion


def test_a_helper_in_another_fence_is_kept():
    raw = (
        "First a helper:\n\n```python\ndef close(a, b, t):\n    return abs(a - b) < t\n```\n\n"
        "Then the function:\n\n```python\n"
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    return any(close(a, b, threshold) for i, a in enumerate(numbers) for b in numbers[i + 1:])\n```"
    )
    result = extract_code(raw, prompt=PROMPT, entry_point=ENTRY)
    check(result, ExtractionMethod.FENCE)
    assert "def close(a, b, t):" in result.completion


def test_the_last_fence_defining_the_entry_point_wins():
    draft = "def has_close_elements(numbers, threshold):\n    return True"
    raw = f"A first try:\n```python\n{draft}\n```\nThat is wrong; the fix:\n```python\n{SOLUTION}\n```"
    check(extract_code(raw, prompt=PROMPT, entry_point=ENTRY))


def test_unfenced_code_with_prose_around_it():
    raw = f"Sure! Here's a solution.\n\n{SOLUTION}\n\nThis runs in O(n^2) time, which is fine for small lists."
    result = extract_code(raw, prompt=PROMPT, entry_point=ENTRY)
    check(result, ExtractionMethod.TEXT)


def test_test_code_and_a_main_block_are_dropped():
    raw = (
        f"```python\nfrom typing import List\nimport math\n\n\n{SOLUTION}\n\n\n"
        "result = has_close_elements([1.0, 2.0], 0.5)\nprint(result)\n"
        "assert has_close_elements([1.0, 1.1], 0.2) == True\n\n"
        'if __name__ == "__main__":\n    import doctest\n    doctest.testmod()\n'
        "    print(has_close_elements([1.0, 2.0, 3.0], 0.5))\n```"
    )
    result = extract_code(raw, prompt=PROMPT, entry_point=ENTRY)
    check(result)
    for dropped in ("print", "assert", "__main__", "doctest", "result =", "import math"):
        assert dropped not in result.completion


def test_a_recursive_solution_keeps_itself_not_the_tests_import_of_it():
    recursive = (
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    if len(numbers) < 2:\n        return False\n"
        "    head, rest = numbers[0], numbers[1:]\n"
        "    return any(abs(head - x) < threshold for x in rest) or has_close_elements(rest, threshold)\n"
    )
    tests = "from solution import has_close_elements\nassert not has_close_elements([], 1)"
    raw = f"```python\n{recursive}\n\n{tests}\n```"
    result = extract_code(raw, prompt=PROMPT, entry_point=ENTRY)
    check(result)
    assert "solution" not in result.completion


def test_needed_imports_helpers_and_constants_are_kept():
    raw = (
        "```python\nimport itertools\nfrom math import isclose as near\n\nEPSILON = 1e-12\n\n"
        "def _pairs(values):\n    return itertools.combinations(values, 2)\n\n"
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    return any(abs(a - b) < threshold - EPSILON and not near(a, b + threshold) for a, b in _pairs(numbers))\n"
        "\n\nprint(has_close_elements([1.0, 2.0], 0.5))\n```"
    )
    result = extract_code(raw, prompt=PROMPT, entry_point=ENTRY)
    check(result)
    for kept in ("import itertools", "from math import isclose as near", "EPSILON = 1e-12", "def _pairs(values):"):
        assert kept in result.completion
    assert "print" not in result.completion


def test_a_fenced_body_only_answer():
    raw = "```python\n    for i, a in enumerate(numbers):\n        for b in numbers[i + 1:]:\n"
    raw += "            if abs(a - b) < threshold:\n                return True\n    return False\n```"
    check(extract_code(raw, prompt=PROMPT, entry_point=ENTRY), ExtractionMethod.FENCE_BODY)


def test_an_unfenced_body_only_answer_as_a_completion_model_writes_it():
    raw = "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
    check(extract_code(raw, prompt=PROMPT, entry_point=ENTRY), ExtractionMethod.TEXT_BODY)


def test_renamed_parameters_redefine_the_function():
    body = "    return any(abs(a - b) < eps for i, a in enumerate(xs) for b in xs[i + 1 :])"
    raw = f"```python\ndef has_close_elements(xs, eps):\n{body}\n```"
    result = extract_code(raw, prompt=PROMPT, entry_point=ENTRY)
    assert result.signature_changed
    check(result)


def test_a_different_indentation_width_is_reindented():
    raw = "```python\n" + SOLUTION.replace("    ", "  ") + "\n```"
    check(extract_code(raw, prompt=PROMPT, entry_point=ENTRY))


def test_the_prompts_own_helper_is_not_redefined():
    prompt = 'def helper(x):\n    return x * 2\n\n\ndef double_all(xs):\n    """Double every item."""\n'
    raw = "```python\ndef helper(x):\n    return x * 3\n\ndef double_all(xs):\n    return [helper(x) for x in xs]\n```"
    result = extract_code(raw, prompt=prompt, entry_point="double_all")
    assert result.ok and "def helper" not in result.completion
    namespace: dict = {}
    exec(result.program, namespace)  # noqa: S102
    assert namespace["double_all"]([1, 2]) == [2, 4]


def test_a_prompt_with_code_after_the_definition_gets_the_whole_definition():
    prompt = PROMPT + "\n\nTHRESHOLD = 0.5\n"
    result = extract_code(f"```python\n{SOLUTION}\n```", prompt=prompt, entry_point=ENTRY)
    assert result.ok and result.signature_changed and result.program == prompt + result.completion
    namespace: dict = {}
    exec(result.program, namespace)  # noqa: S102
    assert namespace[ENTRY]([1.0, 1.2], 0.5) is True


def test_an_unclosed_fence_cut_by_max_tokens_still_yields_the_complete_function():
    raw = f"```python\n{SOLUTION}\n\n\nprint(has_close_elements([1.0, 2.0],"
    check(extract_code(raw, prompt=PROMPT, entry_point=ENTRY))


def test_crlf_line_endings():
    raw = f"```python\n{SOLUTION}\n```".replace("\n", "\r\n")
    check(extract_code(raw, prompt=PROMPT, entry_point=ENTRY))


def test_a_prompt_without_a_trailing_newline():
    result = extract_code(f"```python\n{SOLUTION}\n```", prompt=PROMPT.rstrip("\n"), entry_point=ENTRY)
    assert result.ok and result.program == PROMPT.rstrip("\n") + result.completion
    compile(result.program, "<p>", "exec")


def test_a_prompt_that_is_only_an_instruction_gets_the_whole_program():
    result = extract_code(f"```python\n{SOLUTION}\n```", prompt="Write has_close_elements.", entry_point=ENTRY)
    assert result.ok and result.program == result.completion
    assert result.completion.startswith("def has_close_elements(numbers: List[float]")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "The model's output is empty."),
        ("   \n", "The model's output is empty."),
        ("I'm sorry, I can't help with that.", "No Python code found in the output."),
        ("Sorry", "No Python code found in the output."),
        ("```python\ndef other(x):\n    return x\n```", "No code defines has_close_elements()."),
        ("```bash\npip install numpy\n```", "No Python code found in the output."),
        (
            '```python\ndef has_close_elements(numbers, threshold):\n    """Not done yet."""\n```',
            "The model's has_close_elements() has no body beyond its docstring.",
        ),
    ],
)
def test_nothing_usable_is_an_extraction_failure_with_a_reason(raw, reason):
    result = extract_code(raw, prompt=PROMPT, entry_point=ENTRY)
    assert not result.ok and result.method == ExtractionMethod.FAILED
    assert result.failure == reason and result.completion == "" and result.raw == raw


def test_fenced_blocks_skip_other_languages_and_keep_unlabeled_ones():
    text = "```text\nx = 1\n```\n```\ny = 2\n```\n~~~python\nz = 3\n~~~\n```json\n{}\n```"
    assert fenced_blocks(text) == ["y = 2", "z = 3"]


def test_truncate_at_the_humaneval_stop_sequences():
    assert HUMANEVAL_STOP_SEQUENCES == ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
    text = "    return a + b\n\n\ndef test():\n    pass\n"
    assert truncate_at_stop(text) == "    return a + b\n\n"
    assert truncate_at_stop("    x = 1\nprint(x)\nif x:\n") == "    x = 1"
    assert (
        truncate_at_stop("    return 1  # done\n    # still the body") == "    return 1  # done\n    # still the body"
    )
    assert truncate_at_stop("    return 1\n# comment") == "    return 1"
    assert truncate_at_stop("abc", ("b",)) == "a" and truncate_at_stop("abc", ()) == "abc"
