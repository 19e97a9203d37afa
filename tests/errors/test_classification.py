"""The fine-grained classifier and signatures: a labelled set of failing programs judged by the real sandbox."""

from collections import Counter

import pytest

from errors.choices import ErrorLeaf, leaf_from_name
from errors.classification import (
    FailureFacts,
    classify_failure,
    diagnose,
    non_terminating_loop,
    off_by_one,
    parse_program,
)
from errors.facts import facts_from_outcome
from errors.recommendations import merge_details, suggested_fix
from errors.signatures import assertion_form, cluster_signatures, normalize_message, signature_of
from evaluations.sandbox.engine import SandboxPool
from evaluations.sandbox.types import Harness, Limits, Program

from .labelled import CASES


@pytest.fixture(scope="module")
def labelled(sandbox_environment):
    programs = [
        Program(
            id=name, code=code, harness=Harness(kind="check", entry_point="f", test=test), limits=Limits(timeout_s=1.0)
        )
        for name, code, test, _ in CASES
    ]
    outcomes = {o.program_id: o for o in SandboxPool(workers=4).run(programs)}
    return {
        name: (facts_from_outcome(outcomes[name], program=code, entry_point="f", test_source=test), expected)
        for name, code, test, expected in CASES
    }


def test_the_labelled_set_covers_every_leaf_with_at_least_60_programs():
    leaves = {expected for *_, expected in CASES}
    assert len(CASES) >= 60
    missing = {leaf.value for leaf in ErrorLeaf} - leaves - {"syntax.extraction_failed", "unknown"}
    assert not missing, missing  # extraction failures never reach the sandbox: see the next test


def test_every_labelled_program_is_classified_correctly(labelled):
    wrong = {
        name: (classify_failure(facts), expected, facts.status, facts.exception_type, facts.message)
        for name, (facts, expected) in labelled.items()
        if classify_failure(facts) != expected
    }
    assert wrong == {}


def test_the_same_programs_classified_without_the_entry_point_or_tests_offline(labelled):
    """results.json rows carry neither: the leaves that do not need them stay the same."""
    needs_context = {"semantic.off_by_one"}  # the message alone still gives these, checked below
    for name, (facts, expected) in labelled.items():
        offline = FailureFacts(
            status=facts.status,
            exception_type=facts.exception_type,
            message=facts.message,
            line=facts.line,
            parts=facts.parts,
            completion=facts.program,
        )
        assert classify_failure(offline) == expected or expected in needs_context, (name, classify_failure(offline))


def test_statuses_without_a_program():
    assert (
        classify_failure(FailureFacts(status="extraction_failed", message="no code block"))
        == "syntax.extraction_failed"
    )
    assert classify_failure(FailureFacts(status="passed")) == ""
    truncated = FailureFacts(
        status="error",
        exception_type="SyntaxError",
        message="invalid syntax",
        finish_reason="length",
        program="def f(x):\n    return x +* 1\n",
    )
    assert classify_failure(truncated) == "syntax.incomplete_code"
    assert (
        classify_failure(FailureFacts(status="error", exception_type="EOFError", message="EOF when reading a line"))
        == "unknown"
    )
    assert (
        classify_failure(FailureFacts(status="error", exception_type="StatisticsError", message="no mode"))
        == "semantic.value_error"
    )


def test_specifics_name_what_to_fix(labelled):
    assert diagnose(labelled["name-module"][0]).specifics["import"] == "import math"
    assert diagnose(labelled["name-import"][0]).specifics["import"] == "from functools import reduce"
    assert diagnose(labelled["name-helper"][0]).specifics["module"] == ""
    assert diagnose(labelled["import-missing"][0]).specifics["module"] == "nonexistent_pkg_xyz"
    assert diagnose(labelled["attr-str"][0]).specifics == {"object_type": "str", "attribute": "push"}
    assert diagnose(labelled["obo-list"][0]).specifics["got"] == "[1, 2]"
    assert diagnose(labelled["wrong-plain"][0]).specifics["assertion"] == "assert candidate(1) == 2"
    fix = suggested_fix("semantic.name_error", merge_details({}, diagnose(labelled["name-module"][0]).specifics))
    assert "`math`" in fix and "`import math`" in fix
    assert "nonexistent_pkg_xyz" in suggested_fix("semantic.import_error", {"module": {"nonexistent_pkg_xyz": 1}})
    assert all(suggested_fix(leaf.value, {}) for leaf in ErrorLeaf)


@pytest.mark.parametrize(
    ("expected", "got", "verdict"),
    [
        (2, 3, True),
        (2, 1, True),
        (2.5, 1.5, True),
        (2, 4, False),
        (True, False, False),
        ([1, 2, 3], [1, 2], True),
        ([1, 2, 3], [2, 3], True),
        ([1, 2, 3], [1, 3], False),
        ("abc", "abcd", True),
        ([1], (1,), False),
    ],
)
def test_off_by_one(expected, got, verdict):
    assert off_by_one(expected, got) is verdict


@pytest.mark.parametrize(
    ("code", "infinite"),
    [
        ("while True:\n    x = 1\n", True),
        ("while True:\n    if x:\n        break\n", False),
        ("while i < n:\n    total += i\n", True),
        ("while i < n:\n    i += 1\n", False),
        ("while stack:\n    stack.pop()\n", False),
        ("while f(x):\n    pass\n", False),
        ("while x:\n    for y in z:\n        return y\n", False),
        ("while True:\n    for y in z:\n        break\n", True),
        ("def g():\n    while n > 0:\n        n = n - 1\n", False),
    ],
)
def test_the_static_infinite_loop_rule(code, infinite):
    assert bool(non_terminating_loop(parse_program(code))) is infinite


def test_messages_are_normalized():
    assert normalize_message("name 'foo_bar' is not defined", "semantic.name_error") == "name <name> is not defined"
    assert normalize_message("name 'math' is not defined", "semantic.name_error") == "name <module> is not defined"
    assert normalize_message("name 'Counter' is not defined", "semantic.name_error") == "name <import> is not defined"
    assert normalize_message("list index out of range") == "list index out of range"
    assert (
        normalize_message("unsupported operand type(s) for +: 'int' and 'MyThing'")
        == "unsupported operand type(s) for +: 'int' and <id>"
    )
    assert (
        normalize_message("invalid literal for int() with base 10: 'three'", "semantic.value_error")
        == "invalid literal for int() with base <n>: <str>"
    )
    assert normalize_message("<object at 0x7f3a2b> in /usr/lib/python3.11/x.py") == "<object at <addr>> in <path>"
    assert normalize_message("unindent does not match (<candidate>, line 13)") == "unindent does not match"
    assert normalize_message("expected an indented block after 'if' statement on line 4") == (
        "expected an indented block after 'if' statement on line <n>"
    )
    assert assertion_form("assert candidate([1, 2], 3) == 'x'") == "assert candidate(<list>, <int>) == <str>"


def test_signatures_are_stable_and_cluster_deterministically(labelled):
    signatures = [signature_of(f, diagnose(f)) for f, _ in labelled.values()]
    again = [signature_of(f, diagnose(f)) for f, _ in labelled.values()]
    assert signatures == again
    assert all(len(s.hash) == 64 for s in signatures)
    name_module = signature_of(labelled["name-module"][0], diagnose(labelled["name-module"][0]))
    name_helper = signature_of(labelled["name-helper"][0], diagnose(labelled["name-helper"][0]))
    assert name_module.hash != name_helper.hash and name_helper.construct == "call"
    clusters = cluster_signatures(signatures)
    assert clusters == cluster_signatures(list(reversed(signatures)))
    assert len(set(clusters.values())) < len(set(clusters))  # similar ones joined
    heads = Counter(clusters[s.hash] for s in signatures)
    assert clusters[name_module.hash] != clusters[name_helper.hash]
    assert max(heads.values()) < len(signatures) // 4


def test_leaf_names_for_the_tuning_options():
    assert leaf_from_name("missing_parenthesis") == ErrorLeaf.MISSING_PARENTHESIS
    assert leaf_from_name("semantic.type_error") == ErrorLeaf.TYPE_ERROR
    with pytest.raises(ValueError, match="unknown error type"):
        leaf_from_name("bogus")
