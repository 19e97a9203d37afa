"""The Docker backend: the container it builds (everywhere), its relay and in-container bridge (everywhere, without
an engine), and real runs against a Docker engine (only where one answers; skipped with the reason otherwise)."""

import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

from evaluations.sandbox.backends import STDLIB_PRELOAD, SandboxUnavailable, make_backend
from evaluations.sandbox.docker_backend import (
    CONTAINER_BOOTSTRAP,
    Demux,
    DockerBackend,
    container_spec,
    docker_engine_reachable,
    mux,
    python_version,
    relay_main,
)
from evaluations.sandbox.engine import JailRunner, SandboxPool
from evaluations.sandbox.types import Harness, Limits, OutcomeStatus, Program

CHECK = "def check(candidate):\n    assert candidate(1) == 2\n"


def harness(test=CHECK, entry="f"):
    return Harness(kind="check", entry_point=entry, test=test)


# --- the container configuration ------------------------------------------------------------------------------------
@pytest.fixture
def spec(sandbox_environment, settings):
    settings.SANDBOX_MEMORY_MB = 300
    settings.SANDBOX_TMP_MB = 32
    settings.SANDBOX_MAX_PROCESSES = 40
    settings.SANDBOX_DOCKER_CPUS = 1.5
    settings.SANDBOX_DOCKER_IMAGE = "python:3.11-slim"
    return DockerBackend(check_engine=False).runner_config(sandbox_environment)["docker"]["create"]


def test_every_isolation_option_is_set_with_the_configured_limits(spec):
    assert spec["image"] == "python:3.11-slim"
    assert spec["network_mode"] == "none"
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"] and "cap_add" not in spec
    assert spec["security_opt"] == ["no-new-privileges"]
    assert spec["privileged"] is False
    assert spec["mem_limit"] == spec["memswap_limit"]  # no swap
    assert spec["mem_limit"] >= (300 + 2 * 32) * 1024 * 1024  # the program's memory plus /tmp and /dev/shm
    assert spec["pids_limit"] >= 40 and spec["pids_limit"] <= 40 + 16
    assert spec["nano_cpus"] == 1_500_000_000
    assert spec["environment"] == {}
    assert spec["auto_remove"] is True
    assert spec["init"] is False  # the supervisor is pid 1, out of reach of kill(-1) and of signals from inside
    assert spec["ipc_mode"] == "private" and spec["shm_size"] == 32 * 1024 * 1024
    assert spec["ulimits"] == [{"Name": "core", "Soft": 0, "Hard": 0}]
    scratch = spec["tmpfs"]["/tmp"]
    assert "size=32m" in scratch and "noexec" in scratch and "nosuid" in scratch and "nodev" in scratch
    assert spec["entrypoint"][:5] == ["python3", "-I", "-S", "-B", "-c"]


def test_programs_run_as_a_non_root_user(spec):
    uid, gid = (int(part) for part in spec["user"].split(":"))
    assert (uid, gid) == (settings.SANDBOX_UID, settings.SANDBOX_GID) == (65534, 65534)


def test_nothing_of_the_platform_is_mounted(spec, sandbox_environment):
    assert "volumes" not in spec and "binds" not in spec and "devices" not in spec
    # The one host path: the execution environment's packages, read-only.
    assert spec["mounts"] == [
        {
            "Type": "bind",
            "Source": str(sandbox_environment.site_packages),
            "Target": "/opt/codequal/site-packages",
            "ReadOnly": True,
        }
    ]
    protected = [
        Path(settings.BASE_DIR),
        Path(settings.DATA_DIR),
        Path(sys.prefix),
        Path(settings.BASE_DIR).parent / "shared" / "datasets",
    ]
    for mount in spec["mounts"]:
        source = Path(mount["Source"]).resolve()
        for path in protected:
            path = path.resolve()
            # Neither one of them nor a folder above one (the packages folder may sit inside the data directory).
            assert source != path and source not in path.parents, (source, path)


def test_an_environment_without_packages_mounts_nothing(sandbox_environment):
    from evaluations.sandbox.environment import environment_get

    spec = container_spec(
        environment_get("stdlib"),
        name="n",
        image="python:3.11-slim",
        memory_mb=512,
        tmp_mb=64,
        max_processes=64,
        cpus=1,
        uid=65534,
        gid=65534,
    )
    assert spec["mounts"] == []


def test_each_runner_gets_a_container_of_its_own(sandbox_environment):
    backend = DockerBackend(check_engine=False)
    first, second = (backend.runner_config(sandbox_environment) for _ in range(2))
    assert first["docker"]["create"]["name"] != second["docker"]["create"]["name"]
    assert first["drop_to"] is None and first["wipe_roots"] == ["/tmp", "/dev/shm"]
    assert first["docker"]["python"] == python_version()


def test_the_relay_gets_only_the_engine_address(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/elsewhere.sock")
    monkeypatch.setenv("SECRET_KEY", "not for the relay")
    kwargs = DockerBackend(check_engine=False).popen_kwargs()
    assert kwargs["env"] == {"DOCKER_HOST": "unix:///run/elsewhere.sock"}


def test_an_unreachable_engine_is_named(monkeypatch, tmp_path):
    pytest.importorskip("docker")
    socket_path = tmp_path / "no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    with pytest.raises(SandboxUnavailable, match=str(socket_path)) as caught:
        make_backend("docker")
    assert caught.value.status_code == 503
    ok, why = docker_engine_reachable()
    assert not ok and str(socket_path) in why


def test_a_missing_sdk_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "docker", None)
    with pytest.raises(SandboxUnavailable, match=r"pip install -e \"\.\[docker\]\""):
        make_backend("docker")


def test_demux_routes_frames_however_the_stream_is_cut(tmp_path):
    report_r, report_w = os.pipe()
    verdict_r, verdict_w = os.pipe()
    stream = mux(0, b"report-1") + mux(1, b"V" * 5000) + mux(0, b"") + mux(0, b"report-2")
    demux = Demux({0: report_w, 1: verdict_w})
    rng = random.Random(7)
    position = 0
    while position < len(stream):
        step = rng.randint(1, 9)
        demux.feed(stream[position : position + step])
        position += step
    for fd in (report_w, verdict_w):
        os.close(fd)
    assert os.read(report_r, 100) == b"report-1report-2"
    assert os.read(verdict_r, 10000) == b"V" * 5000
    with pytest.raises(ValueError, match="unknown channel"):
        Demux({0: report_w}).feed(mux(7, b"x"))


# --- the relay and the in-container bridge, without an engine ---------------------------------------------------------
class LocalLink:
    """The container's bootstrap as a plain local process on pipes, as a container's stdin and stdout are. It tests
    the relay, the multiplexing and the splice bridge with the real supervisor, harness and candidate. NOT a
    sandbox: only the test's own harmless programs run through it."""

    def __init__(self, docker: dict):
        self.proc = subprocess.Popen(
            docker["local_argv"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=docker["local_env"]
        )

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_send(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def frames(self):
        while chunk := os.read(self.proc.stdout.fileno(), 1 << 16):
            yield 1, chunk

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class LocalBridgeBackend(DockerBackend):
    name = "docker-bridge-local"

    def __init__(self, launcher_env: dict):
        super().__init__(check_engine=False)
        self.launcher_env = launcher_env

    def command(self, env, ctl_fd):
        return [sys.executable, "-m", "tests.evaluations.test_sandbox_docker", str(ctl_fd)]

    def runner_config(self, env):
        scratch = tempfile.mkdtemp(prefix="codequal-bridge-")
        return {
            "drop_to": None,
            "host_scratch": scratch,
            "scratch_root": scratch + "/work",
            "wipe_roots": [scratch],
            "site_paths": [str(env.site_packages)],
            "preload": list(STDLIB_PRELOAD),
            "docker": {
                "python": python_version(),
                "local_argv": [str(env.python), "-I", "-S", "-B", "-c", CONTAINER_BOOTSTRAP],
                "local_env": self.launcher_env,
            },
        }

    def popen_kwargs(self):
        return {"env": {}, "cwd": str(settings.BASE_DIR)}

    def cleanup(self, config):
        shutil.rmtree(config["host_scratch"], ignore_errors=True)


@pytest.fixture
def bridged_runner(sandbox_environment):
    runner = JailRunner(LocalBridgeBackend({"LAUNCHER_SECRET": "launcher-secret-value"}), sandbox_environment)
    runner.start()
    yield runner
    runner.stop()


def test_programs_cross_the_relay_and_the_bridge(bridged_runner, humaneval):
    from tests.evaluations.conftest import humaneval_program

    assert bridged_runner.info["ready"]
    problems = list(humaneval.values())[:20]
    for problem in problems:
        outcome = bridged_runner.execute(humaneval_program(problem, problem["canonical_solution"]), Limits())
        assert outcome.passed, (problem["task_id"], outcome)
    cases = {
        "failed": ("def f(x):\n    return x\n", OutcomeStatus.FAILED),
        "error": ("def f(x):\n    return x / 0\n", OutcomeStatus.ERROR),
        "timeout": ("def f(x):\n    while True:\n        pass\n", OutcomeStatus.TIMEOUT),
        "exit": ("import os\ndef f(x):\n    os._exit(0)\n", OutcomeStatus.EXITED_EARLY),
        "numpy": ("import numpy as np\ndef f(x):\n    return int(np.int64(x) + 1)\n", OutcomeStatus.PASSED),
    }
    for name, (code, status) in cases.items():
        outcome = bridged_runner.execute(Program(id=name, code=code, harness=harness()), Limits(timeout_s=1.0))
        assert outcome.status == status, (name, outcome)


def test_large_tests_verdicts_and_output_cross_intact(bridged_runner):
    # Several MiB each way: more than any pipe holds, so the bridge's splices block and resume.
    big = "x" * (3 << 20)
    test = f"BIG = {big!r}\ndef check(candidate):\n    assert candidate(1) == len(BIG)\n"
    code = f"def f(x):\n    print('y' * {2 << 20})\n    return {len(big)}\n"
    outcome = bridged_runner.execute(Program(id="big", code=code, harness=harness(test)), Limits())
    assert outcome.passed, outcome
    assert outcome.output_truncated and outcome.details["output_bytes"] == (2 << 20) + 1
    wrong = Program(id="big-wrong", code="def f(x):\n    return 0\n", harness=harness(test))
    assert bridged_runner.execute(wrong, Limits()).status == OutcomeStatus.FAILED


def test_the_launch_environment_is_gone_before_anything_runs(bridged_runner):
    code = (
        "import os\ndef f(x):\n"
        "    seen = open('/proc/self/environ', 'rb').read() + open(f'/proc/{os.getppid()}/environ', 'rb').read()\n"
        "    return x + (2 if b'launcher-secret' in seen or os.environ else 1)\n"
    )
    outcome = bridged_runner.execute(Program(id="environ", code=code, harness=harness()), Limits())
    assert outcome.passed, outcome


def test_a_lost_harness_retires_the_runner(bridged_runner):
    # In a container the jail's pipe ends are out of the host's sight, so a runner whose harness died is replaced.
    calm = bridged_runner.execute(Program(id="calm", code="def f(x):\n    return x + 1\n", harness=harness()), Limits())
    assert calm.passed and bridged_runner.alive
    # The candidate kills its sibling, the harness (both are children of the supervisor).
    code = (
        "import os, signal\ndef f(x):\n"
        "    parent = os.getppid()\n"
        "    for pid in open(f'/proc/{parent}/task/{parent}/children').read().split():\n"
        "        if int(pid) != os.getpid():\n"
        "            os.kill(int(pid), signal.SIGKILL)\n"
        "    return x + 1\n"
    )
    outcome = bridged_runner.execute(Program(id="lost", code=code, harness=harness()), Limits())
    assert outcome.status == OutcomeStatus.EXITED_EARLY, outcome
    assert outcome.details.get("harness_lost")
    assert not bridged_runner.alive


# --- against a real Docker engine ---------------------------------------------------------------------------------
def _engine_or_skip():
    pytest.importorskip("docker", reason="the Docker SDK is not installed (pip install -e '.[docker]')")
    ok, why = docker_engine_reachable()
    if not ok:
        pytest.skip(f"no Docker engine reachable: {why}")
    import docker

    client = docker.from_env()
    try:
        client.images.get(settings.SANDBOX_DOCKER_IMAGE)
    except Exception:
        pytest.skip(f"the image {settings.SANDBOX_DOCKER_IMAGE} is not on the engine: docker pull it first")
    finally:
        client.close()


@pytest.fixture(scope="module")
def engine():
    _engine_or_skip()


def docker_run(programs, workers=2):
    return SandboxPool(backend="docker", workers=workers).run(programs)


def test_docker_canonical_solutions_pass(engine, sandbox_environment, humaneval):
    from tests.evaluations.conftest import humaneval_program

    outcomes = docker_run([humaneval_program(p, p["canonical_solution"]) for p in humaneval.values()])
    assert {o.program_id: o.status for o in outcomes if not o.passed} == {}
    assert all(o.backend == "docker" for o in outcomes)


@pytest.mark.parametrize(
    "attack",
    [
        "tcp_postgres",
        "dns",
        "cloud_metadata",
        "environment",
        "proc_self_environ",
        "proc_1_environ",
        "fork_bomb",
        "memory_bomb",
        "memory_creep",
        "cpu_burn",
        "kill_everything",
    ],
)
def test_docker_contains_attacks(engine, sandbox_environment, humaneval, attack, monkeypatch):
    from tests.evaluations.battery import ATTACKS

    monkeypatch.setenv("CQB_DOCKER_SECRET", "cqb-docker-secret")
    case = next(a for a in ATTACKS if a.name == attack)
    problem = humaneval["HumanEval/0"]
    values = {
        "tcp_port": 8000,
        "udp_port": 9,
        "abstract": "cqb",
        "secret": "cqb-docker-secret",
        "sentinel": "/tmp/outer-sentinel",
        "project_dir": str(settings.BASE_DIR),
        "datasets_dir": str(Path(settings.BASE_DIR).parent / "shared" / "datasets"),
        "human_eval_data": "/nonexistent",
        "venv_dir": sys.prefix,
    }
    h = Harness(kind="check", entry_point=problem["entry_point"], test=problem["test"], setup=problem["prompt"])
    attack_program = Program(
        id=attack,
        code=problem["prompt"] + case.completion().format(**values),
        harness=h,
        limits=Limits(timeout_s=case.timeout_s),
    )
    canary = Program(id="canary", code=problem["prompt"] + problem["canonical_solution"], harness=h)
    outcome, after = docker_run([attack_program, canary], workers=1)
    assert outcome.status != OutcomeStatus.PASSED and outcome.status.value in case.expect, outcome
    assert after.passed, after


def test_docker_verdicts_equal_bwrap_verdicts(engine, sandbox_environment, humaneval):
    from tests.evaluations.conftest import dev_samples, humaneval_program

    rows = dev_samples()[::33][:50]
    programs = [
        humaneval_program(humaneval[r["task_id"]], r["completion"], f"{r['task_id']}#{r['sample_index']}") for r in rows
    ]
    ours = docker_run(programs)
    reference = SandboxPool(backend="bwrap", workers=2).run(programs)
    differ = {
        a.program_id: (a.status, b.status)
        for a, b in zip(ours, reference, strict=True)
        if a.passed != b.passed and not (a.duration_s or 0) > 1.5
    }
    assert differ == {}


if __name__ == "__main__":  # the relay, as LocalBridgeBackend starts it
    sys.exit(relay_main(sys.argv, make_link=LocalLink))
