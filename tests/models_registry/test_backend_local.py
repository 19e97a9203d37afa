"""The ``reference`` and ``samples`` backends: answers from the benchmark itself, and files inside SAMPLES_DIR only."""

import gzip
import json
import os

import pytest

from codequal.exceptions import ApplicationError
from models_registry.backends import EndpointConfig, ErrorKind, GenerationRequest, backend_class, create_backend
from models_registry.backends.local import SamplesFileError, read_samples_file
from models_registry.selectors import endpoint_backend
from models_registry.services import model_endpoint_check_health, model_endpoint_create

REFERENCE = "    return a + b\n"
HUMAN_EVAL = [
    {"task_id": "HumanEval/0", "completion": "    return 0\n"},
    {"task_id": "HumanEval/1", "completion": "    return 10\n"},
    {"task_id": "HumanEval/0", "completion": "    return 1\n"},
    {"task_id": "HumanEval/0", "completion": "    return 2\n"},
]
EVALPLUS = [
    {"task_id": "HumanEval/0", "solution": "def f():\n    return 0\n"},
    {"task_id": "HumanEval/0", "solution": "def f():\n    return 1\n"},
]


@pytest.fixture
def samples_root(settings, tmp_path):
    root = tmp_path / "samples"
    root.mkdir()
    settings.SAMPLES_DIR = root
    return root


def jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def write(root, name: str, content: bytes):
    path = root / name
    path.write_bytes(content)
    return path


def samples_backend(path):
    return create_backend(EndpointConfig(backend="samples", base_url=str(path), model="samples"))


def ask(backend, task_id="HumanEval/0", *, n=1, first_index=0):
    return backend.generate(GenerationRequest(prompt="def f():\n", n=n, task_id=task_id, first_index=first_index))


# --- reference ----------------------------------------------------------------------------------------------------


def test_reference_returns_the_requests_reference_n_times():
    backend = create_backend(EndpointConfig(backend="reference", base_url="", model="reference"))
    result = backend.generate(
        GenerationRequest(prompt="def add(a, b):\n", n=3, task_id="HumanEval/53", reference=REFERENCE)
    )
    assert result.ok, result.error
    assert [(s.index, s.text, s.program) for s in result.samples] == [(i, REFERENCE, False) for i in range(3)]
    assert backend_class("reference").capabilities().verbatim is True


def test_reference_answers_benchmark_problems_only():
    backend = create_backend(EndpointConfig(backend="reference", base_url="", model="reference"))
    result = backend.generate(GenerationRequest(prompt="def add(a, b):\n"))
    assert result.error.kind == ErrorKind.CONFIGURATION and result.samples == ()


def test_reference_refuses_a_base_url(world):
    with pytest.raises(ValueError, match="takes no base URL"):
        backend_class("reference").validate_location("http://127.0.0.1:11434")
    backend = create_backend(EndpointConfig(backend="reference", base_url="http://127.0.0.1:1", model="reference"))
    assert ask(backend).error.kind == ErrorKind.URL_REFUSED
    with pytest.raises(ApplicationError) as caught:
        model_endpoint_create(
            actor=world.a.user("evaluator"),
            project=world.a.project,
            name="ref",
            backend="reference",
            base_url="http://127.0.0.1:11434",
        )
    assert "base_url" in caught.value.extra["fields"]


def test_reference_registers_without_a_base_url_and_is_healthy(world):
    actor = world.a.user("evaluator")
    endpoint = model_endpoint_create(actor=actor, project=world.a.project, name="reference", backend="reference")
    assert (endpoint.base_url, endpoint.api_style) == ("", "completion")
    with endpoint_backend(endpoint) as backend:
        result = backend.generate(GenerationRequest(prompt="p", n=2, task_id="t", reference=REFERENCE))
    assert [s.text for s in result.samples] == [REFERENCE, REFERENCE]
    assert model_endpoint_check_health(actor=actor, endpoint=endpoint).healthy


# --- samples: reading ---------------------------------------------------------------------------------------------


def test_human_eval_completions_are_continuations_in_file_order(samples_root):
    backend = samples_backend(write(samples_root, "he.jsonl", jsonl(HUMAN_EVAL)))
    result = ask(backend, n=3)
    assert result.ok, result.error
    assert [(s.index, s.text, s.program) for s in result.samples] == [
        (0, "    return 0\n", False),
        (1, "    return 1\n", False),
        (2, "    return 2\n", False),
    ]
    assert ask(backend, "HumanEval/1").samples[0].text == "    return 10\n"


def test_evalplus_solutions_are_whole_programs(samples_root):
    backend = samples_backend(write(samples_root, "ep.jsonl", jsonl(EVALPLUS)))
    result = ask(backend, n=2)
    assert [(s.text, s.program) for s in result.samples] == [(r["solution"], True) for r in EVALPLUS]


def test_gzipped_files_read_like_plain_ones(samples_root):
    plain = read_samples_file(write(samples_root, "he.jsonl", jsonl(HUMAN_EVAL)))
    packed = write(samples_root, "he.jsonl.gz", gzip.compress(jsonl(HUMAN_EVAL)))
    assert read_samples_file(packed).tasks == plain.tasks
    assert read_samples_file(packed).sha256 == plain.sha256  # the digest is of the lines, not the compressed bytes
    assert [s.text for s in ask(samples_backend(packed), n=3).samples] == [
        "    return 0\n",
        "    return 1\n",
        "    return 2\n",
    ]


def test_first_index_and_n_select_a_window_and_sample_count_says_how_many(samples_root):
    backend = samples_backend(write(samples_root, "he.jsonl", jsonl(HUMAN_EVAL)))
    result = ask(backend, n=2, first_index=1)
    assert [(s.index, s.text) for s in result.samples] == [(1, "    return 1\n"), (2, "    return 2\n")]
    assert [s.index for s in ask(backend, first_index=2).samples] == [2]
    assert (backend.sample_count("HumanEval/0"), backend.sample_count("HumanEval/1")) == (3, 1)
    assert backend.sample_count("HumanEval/99") == 0


@pytest.mark.parametrize(("task_id", "n", "first_index"), [("HumanEval/0", 4, 0), ("HumanEval/0", 1, 3), ("X/1", 1, 0)])
def test_asking_beyond_the_file_is_a_not_found_value(samples_root, task_id, n, first_index):
    backend = samples_backend(write(samples_root, "he.jsonl", jsonl(HUMAN_EVAL)))
    result = ask(backend, task_id, n=n, first_index=first_index)  # no exception
    assert not result.ok and result.error.kind == ErrorKind.NOT_FOUND
    assert task_id in result.error.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"task_id": "a", "completion": "x"}\n{"task_id": "a", "completion": \n', "bad.jsonl line 2: not valid JSON"),
        (b'{"completion": "x"}\n', "bad.jsonl line 1: field 'task_id' must be a non-empty string"),
        (b'\n{"task_id": "a", "text": "x"}\n', "bad.jsonl line 2: needs a 'completion' (human-eval) or a 'solution'"),
        (b'{"task_id": "a", "completion": 3}\n', "bad.jsonl line 1: field 'completion' must be a string"),
        (b'{"task_id": "a", "solution": null}\n', "bad.jsonl line 1: field 'solution' must be a string"),
        (b"[1, 2]\n", "bad.jsonl line 1: expected a JSON object"),
        (b"", "bad.jsonl holds no samples"),
        (b"\n\n", "bad.jsonl holds no samples"),
    ],
)
def test_malformed_files_name_the_file_line_and_field(samples_root, content, expected):
    path = write(samples_root, "bad.jsonl", content)
    with pytest.raises(SamplesFileError) as caught:
        read_samples_file(path)
    assert str(caught.value).startswith(expected)
    result = ask(samples_backend(path))  # through the adapter: a value, not an exception
    assert result.error.kind == ErrorKind.CONFIGURATION and expected in result.error.message


def test_a_truncated_gzip_file_is_a_samples_file_error(samples_root):
    packed = gzip.compress(jsonl([{"task_id": f"t/{i}", "completion": "x" * 50} for i in range(2000)]))
    path = write(samples_root, "cut.jsonl.gz", packed[: len(packed) // 2])
    with pytest.raises(SamplesFileError, match=r"cut\.jsonl\.gz line \d+: cannot be read"):
        read_samples_file(path)
    assert ask(samples_backend(path), "t/0").error.kind == ErrorKind.CONFIGURATION


def test_a_changed_file_is_read_again(samples_root):
    path = write(samples_root, "he.jsonl", jsonl(HUMAN_EVAL))
    backend = samples_backend(path)
    assert backend.sample_count("HumanEval/0") == 3
    path.write_bytes(jsonl(HUMAN_EVAL[:1]))
    os.utime(path, ns=(1, 1))
    assert backend.sample_count("HumanEval/0") == 1


def test_health_reports_the_counts(samples_root):
    report = samples_backend(write(samples_root, "he.jsonl", jsonl(HUMAN_EVAL))).health()
    assert report.healthy and report.message == "he.jsonl: 4 samples for 2 tasks."
    assert report.models == ("HumanEval/0", "HumanEval/1")
    missing = samples_backend(samples_root / "gone.jsonl").health()
    assert not missing.healthy and missing.error.kind == ErrorKind.URL_REFUSED and "gone.jsonl" in missing.message


# --- samples: registration ----------------------------------------------------------------------------------------


def test_registration_keeps_the_file_inside_samples_dir(world, samples_root):
    path = write(samples_root, "he.jsonl", jsonl(HUMAN_EVAL))
    actor = world.a.user("evaluator")
    endpoint = model_endpoint_create(
        actor=actor, project=world.a.project, name="he", backend="samples", base_url="he.jsonl"
    )
    assert endpoint.base_url == str(path.resolve()) and endpoint.api_style == "completion"
    with endpoint_backend(endpoint) as backend:
        assert [s.text for s in ask(backend, "HumanEval/1").samples] == ["    return 10\n"]
    report = model_endpoint_check_health(actor=actor, endpoint=endpoint)
    assert report.healthy and "4 samples for 2 tasks" in report.message


def test_paths_outside_samples_dir_are_refused_on_base_url(world, samples_root, tmp_path):
    outside = write(tmp_path, "elsewhere.jsonl", jsonl(HUMAN_EVAL))
    (samples_root / "link.jsonl").symlink_to(outside)
    (samples_root / "sub").mkdir()
    refused = {}
    for location in (str(outside), "../elsewhere.jsonl", "sub/../../elsewhere.jsonl", "link.jsonl", "", "no.jsonl"):
        with pytest.raises(ApplicationError) as caught:
            model_endpoint_create(
                actor=world.a.user("evaluator"), project=world.a.project, name="s", backend="samples", base_url=location
            )
        assert list(caught.value.extra["fields"]) == ["base_url"], location
        refused[location] = caught.value.extra["fields"]["base_url"][0]
    assert all("outside it" in refused[loc] for loc in (str(outside), "../elsewhere.jsonl", "link.jsonl"))
    assert "needs the path" in refused[""] and "No samples file 'no.jsonl'" in refused["no.jsonl"]


def test_an_adapter_rechecks_its_path_before_reading(samples_root, tmp_path):
    outside = write(tmp_path, "elsewhere.jsonl", jsonl(HUMAN_EVAL))
    result = ask(samples_backend(outside))
    assert result.error.kind == ErrorKind.URL_REFUSED and "SAMPLES_DIR" in result.error.message
