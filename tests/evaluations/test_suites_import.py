"""Suite importers: errors that name the line and field, all-or-nothing imports, versions, every format, URLs."""

import gzip
import json

import pytest
import yaml

from evaluations.importers import SuiteImportError, source_from_bytes
from evaluations.models import BenchmarkSuite, Problem
from evaluations.sandbox.engine import SandboxPool
from evaluations.sandbox.types import Program
from evaluations.services import suite_import, suite_source_load
from tests.evaluations.suite_helpers import UNCHECKED_ROWS, custom_suite_in, jsonl, serve_local

pytestmark = pytest.mark.django_db


def _import(world, data: bytes, fmt: str = "custom", *, name="demo", filename="suite.jsonl", **kwargs):
    return suite_import(
        actor=world.a.user("curator"),
        project=world.a.project,
        name=name,
        source_format=fmt,
        source=source_from_bytes(data, filename),
        **kwargs,
    )


def _refused(world, data: bytes, fmt: str = "custom", **kwargs) -> SuiteImportError:
    with pytest.raises(SuiteImportError) as caught:
        _import(world, data, fmt, **kwargs)
    assert not BenchmarkSuite.objects.exists() and not Problem.objects.exists()
    return caught.value


def _run(problem: Problem, completion: str):
    program = Program(id=problem.task_id, code=problem.program_code(completion), harness=problem.harness())
    return SandboxPool(workers=1).run([program])[0]


# --- errors name the line and the field; nothing is stored ----------------------------------------------------------


def test_missing_field_names_line_and_field_and_nothing_is_stored(world):
    rows = [*UNCHECKED_ROWS, {"task_id": "demo/x", "prompt": "def x():\n", "tests": ["assert x() == 1"]}]

    error = _refused(world, jsonl(rows))

    assert error.message.endswith("line 3: field 'entry_point' is missing")
    assert error.extra["errors"] == ["line 3: field 'entry_point' is missing"]


def test_every_bad_row_is_reported_with_its_line(world):
    lines = [
        json.dumps(UNCHECKED_ROWS[0]),
        "{not json",
        "",
        json.dumps({**UNCHECKED_ROWS[1], "language": "javascript"}),
        json.dumps({**UNCHECKED_ROWS[1], "task_id": "demo/t", "tests": 42}),
        json.dumps({**UNCHECKED_ROWS[1], "task_id": "demo/add"}),
        json.dumps({**UNCHECKED_ROWS[1], "task_id": "demo/e", "entry_point": "not a name"}),
        json.dumps({**UNCHECKED_ROWS[1], "task_id": "demo/d", "difficulty": "brutal"}),
        json.dumps({**UNCHECKED_ROWS[1], "task_id": "demo/c", "tests": "def helper():\n    pass\n"}),
    ]

    errors = _refused(world, "\n".join(lines).encode()).extra["errors"]

    assert errors[0].startswith("line 2: not valid JSON")
    assert errors[1:] == [
        "line 4: field 'language' is 'javascript': only python problems can be executed today",
        "line 5: field 'tests' must be a list of assert statements or a string defining check(candidate)",
        "line 7: field 'entry_point' is not a Python function name: 'not a name'",
        "line 8: field 'difficulty' must be one of easy, medium, hard, not 'brutal'",
        "line 9: field 'tests' as a string must define check(candidate)",
        "line 6: field 'task_id' 'demo/add' repeats line 1",
    ]


def test_yaml_errors_name_the_line_where_the_problem_starts(world):
    text = (
        "problems:\n"
        "  - task_id: ok\n"
        "    prompt: 'def f(): pass'\n"
        "    entry_point: f\n"
        "    tests: ['assert f() is None']\n"
        "  - task_id: broken\n"
        "    entry_point: g\n"
        "    tests: ['assert g() == 1']\n"
    )

    error = _refused(world, text.encode(), filename="suite.yaml")

    assert error.extra["errors"] == ["line 6: field 'prompt' is missing"]


def test_invalid_yaml_names_its_line(world):
    error = _refused(world, b"- task_id: a\n  prompt: x\n- task_id: b\n  prompt: x: y\n", filename="suite.yml")
    assert error.message == "Nothing was imported: line 4: not valid YAML: mapping values are not allowed here"


def test_evalplus_and_mbpp_fields_are_checked(world):
    evalplus = {"task_id": "X/1", "prompt": "", "entry_point": "f", "canonical_solution": "x", "base_input": "[[1]"}
    errors = _refused(world, jsonl([evalplus]), "evalplus").extra["errors"]
    assert errors[0] == "line 1: field 'prompt' is empty"
    assert errors[1].startswith("line 1: field 'base_input' is not valid JSON")

    mbpp = {
        "task_id": 1,
        "text": "Add.",
        "code": "def add(a, b):\n    return a + b\n",
        "test_list": ["assert sub(1) == 1"],
    }
    errors = _refused(world, jsonl([mbpp]), "mbpp").extra["errors"]
    assert errors == ["line 1: field 'test_list' calls no function that 'code' defines: cannot tell the entry point"]


def test_gzip_is_recognised_and_garbage_is_refused(world):
    report = _import(world, gzip.compress(jsonl(UNCHECKED_ROWS)), filename="suite.jsonl.gz")
    assert report.suite.problem_count == 2
    with pytest.raises(SuiteImportError, match="not a valid gzip file"):
        source_from_bytes(b"\x1f\x8bnot really gzip", "x.jsonl.gz")


# --- versions --------------------------------------------------------------------------------------------------------


def test_reimport_makes_a_new_version_and_leaves_the_old_problems_untouched(world):
    first = custom_suite_in(world.a.project, world.a.user("curator"))
    before = list(Problem.objects.filter(suite=first).values())
    changed = [{**UNCHECKED_ROWS[0], "tests": ["assert add(2, 2) == 4"]}, UNCHECKED_ROWS[1]]

    second = custom_suite_in(world.a.project, world.a.user("curator"), rows=changed)

    assert (first.version, second.version) == (1, 2)
    assert list(Problem.objects.filter(suite=first).values()) == before
    assert second.problems.get(task_id="demo/add").test_spec["parts"][0]["asserts"] == ["assert add(2, 2) == 4"]
    assert first.content_sha256 != second.content_sha256
    # Another project's suite of the same name starts its own versions.
    other = custom_suite_in(world.b.project, world.b.user("curator"))
    assert other.version == 1


# --- formats, with reference solutions run in the sandbox -----------------------------------------------------------

CUSTOM_YAML = """
problems:
  - task_id: demo/add
    prompt: |
      def add(a, b):
          \"\"\"Return a + b.\"\"\"
    entry_point: add
    canonical_solution: "    return a + b\\n"
    tests:
      - assert add(1, 2) == 3
      - assert add(-1, 1) == 0
    difficulty: easy
    category: arithmetic
  - task_id: demo/square
    prompt: Write square(x), returning x times x.
    entry_point: square
    canonical_solution: |
      def square(x):
          return x * x
    tests: |
      def check(candidate):
          assert candidate(3) == 9
          assert candidate(-2) == 4
    language: python
    metadata: {source: handwritten}
"""


def test_custom_yaml_and_jsonl_import_and_judge(world, sandbox_environment):
    rows = yaml.safe_load(CUSTOM_YAML)["problems"]
    for data, filename, name in ((CUSTOM_YAML.encode(), "demo.yaml", "y"), (jsonl(rows), "demo.jsonl", "j")):
        report = _import(world, data, filename=filename, name=name)
        assert (report.problems, report.verified, report.flagged) == (2, 2, [])
        add, square = report.suite.problems.order_by("ordinal")
        assert (add.difficulty, add.category, square.metadata["source"]) == ("easy", "arithmetic", "handwritten")
        assert add.metadata["prompt_is_code"] and not square.metadata["prompt_is_code"]
        assert _run(add, "    return a + b\n").passed
        assert not _run(add, "    return a - b\n").passed
        assert _run(square, "def square(x):\n    return x ** 2\n").passed
        assert _run(square, "def square(x):\n    return 2 * x\n").parts["base"]["status"] == "failed"


def test_a_broken_reference_refuses_the_import_unless_allowed(world, sandbox_environment):
    rows = [
        {**UNCHECKED_ROWS[0], "canonical_solution": "    return a + b\n"},
        {**UNCHECKED_ROWS[1], "canonical_solution": "    return a\n"},
    ]

    error = _refused(world, jsonl(rows))
    assert error.extra["flagged"][0]["task_id"] == "demo/neg"
    assert error.extra["flagged"][0]["line"] == 2
    assert "does not pass its own tests" in error.extra["flagged"][0]["reason"]
    assert "demo/neg (line 2)" in error.message

    report = _import(world, jsonl(rows), allow_broken=True)
    assert report.suite.flagged_count == 1
    flagged = report.suite.problems.get(flagged=True)
    assert flagged.task_id == "demo/neg" and "base: failed" in flagged.flag_reason


MBPP_SAMPLE = [
    {
        "task_id": 11,
        "text": "Write a python function to remove first and last occurrence of a given character from the string.",
        "code": (
            "def remove_Occ(s,ch): \r\n    for i in range(len(s)): \r\n        if (s[i] == ch): \r\n"
            "            s = s[0 : i] + s[i + 1:] \r\n            break\r\n    for i in range(len(s) - 1,-1,-1):  \r\n"
            "        if (s[i] == ch): \r\n            s = s[0 : i] + s[i + 1:] \r\n            break\r\n    return s "
        ),
        "test_list": [
            'assert remove_Occ("hello","l") == "heo"',
            'assert remove_Occ("abcda","a") == "bcd"',
            'assert remove_Occ("PHP","P") == "H"',
        ],
        "test_setup_code": "",
        "challenge_test_list": ['assert remove_Occ("hellolloll","l") == "helollol"'],
    },
    {
        "task_id": 12,
        "text": "Write a function to double every value of a Pair.",
        "code": "def double(p):\n    return Pair(p.a * 2, p.b * 2)\n",
        "test_list": ["assert double(Pair(1, 2)) == Pair(2, 4)"],
        "test_setup_code": (
            "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
            "    def __eq__(self, other):\n        return (self.a, self.b) == (other.a, other.b)\n"
        ),
        "challenge_test_list": [],
    },
]


def test_mbpp_original_rows(world, sandbox_environment):
    # Row 12's values cannot cross the sandbox boundary (a class of its own): its reference is flagged.
    report = _import(world, jsonl(MBPP_SAMPLE), "mbpp", name="mbpp", allow_broken=True)

    occ = report.suite.problems.get(task_id="11")
    assert occ.entry_point == "remove_Occ"
    assert occ.prompt == f'"""\n{MBPP_SAMPLE[0]["text"]}\n{MBPP_SAMPLE[0]["test_list"][0]}\n"""\n'
    assert occ.test_spec["parts"] == [{"name": "base", "kind": "asserts", "asserts": MBPP_SAMPLE[0]["test_list"]}]
    assert occ.metadata["challenge_test_list"] == MBPP_SAMPLE[0]["challenge_test_list"]
    assert not occ.flagged
    assert _run(occ, MBPP_SAMPLE[0]["code"]).passed
    assert not _run(occ, "def remove_Occ(s, ch):\n    return s.replace(ch, '', 1)\n").passed
    pair = report.suite.problems.get(task_id="12")
    assert pair.test_spec["setup"] == MBPP_SAMPLE[1]["test_setup_code"]
    assert [f["task_id"] for f in report.flagged] == ["12"]


EVALPLUS_SAMPLE = [
    {
        "task_id": "HumanEval/900",
        "prompt": 'def halve(x):\n    """x / 2"""\n',
        "entry_point": "halve",
        "canonical_solution": "    return x / 2\n",
        "test": "def check(candidate):\n    assert candidate(4) == 2\n",
        "base_input": [[4]],
        "plus_input": [[1], [3], [1e300], [-7]],
        "atol": 0,
        "contract": "",
    },
    {
        "task_id": "Mbpp/2",
        "prompt": '"""\nShared elements.\n"""\n',
        "entry_point": "similar_elements",
        "canonical_solution": "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
        "base_input": json.dumps([[[3, 4, 5, 6], [5, 7, 4, 10]]]),
        "plus_input": json.dumps([[["x", "y", "z"], ["z", "y"]], [[], [1]]]),
        "atol": "0",
        "assertion": "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
    },
    {
        "task_id": "Mbpp/737",
        "prompt": '"""\nStarts with a vowel?\n"""\n',
        "entry_point": "check_str",
        "canonical_solution": "import re\ndef check_str(s):\n    return re.search('^[aeiouAEIOU]', s)\n",
        "base_input": [["annie"], ["dawood"]],
        "plus_input": [["Else"], [""]],
        "atol": 0,
    },
]


def test_evalplus_rows_get_base_and_plus_verdicts(world, sandbox_environment):
    report = _import(world, jsonl(EVALPLUS_SAMPLE), "evalplus", name="plus")
    assert (report.problems, report.verified, report.flagged) == (3, 3, [])
    halve, similar, vowel = report.suite.problems.order_by("ordinal")

    assert [p["kind"] for p in halve.test_spec["parts"]] == ["check", "io"]
    assert halve.test_spec["parts"][1]["requires"] == "base"
    outcome = _run(halve, "    return x / 2\n")
    assert outcome.passed and outcome.parts["plus"]["passed"]
    # Right on the base test, wrong on a plus input: base passes, plus fails at that input.
    outcome = _run(halve, "    return x // 2\n")
    assert outcome.parts["base"]["passed"] and not outcome.parts["plus"]["passed"]
    assert outcome.parts["plus"]["failed_input"] == 0
    # A different order of the same elements is right (EvalPlus compares this task as sets); tuples arrive as tuples.
    assert _run(similar, "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b), key=str))\n").passed
    assert not _run(similar, "def similar_elements(a, b):\n    assert type(a) is list\n    return ()\n").passed
    # A match object compares as "found".
    assert _run(vowel, "def check_str(s):\n    return s[:1].lower() in ('a','e','i','o','u') and s != ''\n").passed
    assert not _run(vowel, "def check_str(s):\n    return True\n").passed


@pytest.fixture
def local_server():
    yield from serve_local()


# --- URLs ------------------------------------------------------------------------------------------------------------


def test_url_import_from_a_local_server(world, local_server, settings):
    settings.SUITE_IMPORT_ALLOW_LOOPBACK_URLS = True
    local_server.routes["/suite.jsonl.gz"] = (200, {}, gzip.compress(jsonl(UNCHECKED_ROWS)))
    local_server.routes["/moved"] = (302, {"Location": "/suite.jsonl.gz"}, b"")

    source = suite_source_load(url=f"{local_server.url}/moved")
    report = suite_import(
        actor=world.a.user("curator"), project=world.a.project, name="web", source_format="custom", source=source
    )

    assert report.suite.problem_count == 2
    assert report.suite.source_reference == f"{local_server.url}/moved"


def test_url_guard_refuses_loopback_by_setting_and_metadata_always(local_server, settings):
    settings.SUITE_IMPORT_ALLOW_LOOPBACK_URLS = False
    local_server.routes["/suite.jsonl"] = (200, {}, jsonl(UNCHECKED_ROWS))
    with pytest.raises(SuiteImportError, match="SUITE_IMPORT_ALLOW_LOOPBACK_URLS=true allows it"):
        suite_source_load(url=f"{local_server.url}/suite.jsonl")

    settings.SUITE_IMPORT_ALLOW_LOOPBACK_URLS = True
    settings.SUITE_IMPORT_ALLOW_PRIVATE_URLS = True
    # Refused before any connection is attempted.
    for url in ("http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/x", "http://[fe80::1]/"):
        with pytest.raises(SuiteImportError, match=r"link-local or cloud-metadata|cloud-metadata host"):
            suite_source_load(url=url)
    with pytest.raises(SuiteImportError, match="http:// or https://"):
        suite_source_load(url="file:///etc/passwd")
    # A redirect is checked again.
    local_server.routes["/to-metadata"] = (302, {"Location": "http://169.254.169.254/latest/"}, b"")
    with pytest.raises(SuiteImportError, match="link-local or cloud-metadata"):
        suite_source_load(url=f"{local_server.url}/to-metadata")


def test_url_size_limit_and_http_errors(local_server, settings):
    settings.SUITE_IMPORT_ALLOW_LOOPBACK_URLS = True
    settings.SUITE_IMPORT_MAX_BYTES = 100
    local_server.routes["/big"] = (200, {}, b"x" * 1000)
    with pytest.raises(SuiteImportError, match="larger than SUITE_IMPORT_MAX_BYTES"):
        suite_source_load(url=f"{local_server.url}/big")
    with pytest.raises(SuiteImportError, match="answered HTTP 404"):
        suite_source_load(url=f"{local_server.url}/nothing")
