"""cgroup v2 limits for runners: detection (pure, on fake trees), the per-program accounting, and, where this machine
lets the platform make a cgroup subtree, a memory bomb and a fork bomb stopped by the cgroup's own limits."""

from pathlib import Path

import pytest

from evaluations.sandbox import cgroups
from evaluations.sandbox.cgroups import RunnerCgroup, detect, limits_summary, own_cgroup
from evaluations.sandbox.types import Harness, Limits, Outcome, OutcomeStatus, Program


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def proc_cgroup(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proc-self-cgroup"
    path.write_text(text)
    return path


def test_own_cgroup_reads_the_v2_line():
    assert own_cgroup("12:pids:/x\n0::/system.slice/codequal.service\n") == "/system.slice/codequal.service"
    assert own_cgroup("0::/\n") == "/"
    assert own_cgroup("4:memory:/a\n") is None


def test_a_hybrid_hierarchy_is_not_usable(tmp_path):
    root = tree(tmp_path / "cg", {"unified/cgroup.controllers": "hugetlb\n", "memory/tasks": ""})
    support = detect(root, proc_cgroup(tmp_path, "0::/\n4:memory:/x\n"))
    assert not support.usable
    assert "hybrid" in support.reason and "hugetlb" in support.reason and str(root / "unified") in support.reason


def test_no_cgroup_v2_at_all(tmp_path):
    support = detect(tmp_path / "empty", proc_cgroup(tmp_path, ""))
    assert not support.usable and "no cgroup v2 hierarchy" in support.reason


def test_controllers_that_are_not_delegated_are_named(tmp_path):
    root = tree(
        tmp_path / "cg",
        {"cgroup.controllers": "cpu memory pids\n", "svc/cgroup.controllers": "memory\n"},
    )
    support = detect(root, proc_cgroup(tmp_path, "0::/svc\n"))
    assert not support.usable and "cpu, pids" in support.reason and str(root / "svc") in support.reason


def test_a_read_only_cgroup_is_not_delegated(tmp_path, monkeypatch):
    files = {"cgroup.controllers": "cpu memory pids\n", "cgroup.subtree_control": "", "cgroup.procs": ""}
    root = tree(tmp_path / "cg", {**files, **{f"svc/{name}": text for name, text in files.items()}})
    monkeypatch.setattr(cgroups.os, "access", lambda path, mode: False)
    support = detect(root, proc_cgroup(tmp_path, "0::/svc\n"))
    assert not support.usable
    assert support.reason == f"cgroup v2 not delegated: {root / 'svc'} is read-only for this process"


def test_a_delegated_cgroup_is_usable(tmp_path):
    files = {"cgroup.controllers": "cpuset cpu io memory pids\n", "cgroup.subtree_control": "", "cgroup.procs": ""}
    root = tree(tmp_path / "cg", {f"svc/{name}": text for name, text in files.items()} | files)
    support = detect(root, proc_cgroup(tmp_path, "0::/svc\n"))
    assert support.usable and support.path == root / "svc"


def test_status_says_which_limits_apply():
    summary = limits_summary("auto")
    support = detect()
    if support.usable:
        assert summary.startswith("cgroup v2 per program")
    else:
        assert summary == f"rlimits only ({support.reason})"
    assert "Docker engine" in limits_summary("docker")


def fake_program_cgroup(tmp_path: Path) -> RunnerCgroup:
    cgroup = RunnerCgroup(tmp_path / "runner")
    tree(
        cgroup.program,
        {
            "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
            "pids.events": "max 0\n",
            "memory.max": "",
            "pids.max": "",
            "memory.peak": "",
            "cgroup.kill": "",
            "cgroup.events": "populated 0\nfrozen 0\n",
        },
    )
    return cgroup


def test_limits_are_set_per_program_and_counters_fold_into_the_outcome(tmp_path):
    cgroup = fake_program_cgroup(tmp_path)
    cgroup.prepare(Limits(memory_mb=100, max_processes=7))
    assert (cgroup.program / "memory.max").read_text() == str(100 * 1024 * 1024)
    assert (cgroup.program / "pids.max").read_text() == "7"
    (cgroup.program / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    (cgroup.program / "pids.events").write_text("max 3\n")
    (cgroup.program / "memory.peak").write_text(f"{100 * 1024 * 1024}\n")
    killed = Outcome(program_id="p", status=OutcomeStatus.EXITED_EARLY, peak_memory_kb=5)
    outcome = cgroup.settle(killed)
    assert outcome.status == OutcomeStatus.MEMORY
    assert outcome.peak_memory_kb == 100 * 1024
    assert outcome.details["cgroup"] == {"oom_kill": 1, "memory_max": 12, "pids_max": 3, "peak_memory_kb": 102400}
    assert (cgroup.program / "cgroup.kill").read_text() == "1"
    # The next program counts from where this one stopped; a passing program stays passed.
    cgroup.prepare(Limits())
    (cgroup.program / "memory.peak").write_text("4096\n")  # a real memory.peak restarts at the reset
    passed = cgroup.settle(Outcome(program_id="q", status=OutcomeStatus.PASSED))
    assert passed.status == OutcomeStatus.PASSED and passed.details["cgroup"]["oom_kill"] == 0
    cgroup.remove()


# --- where this machine allows it -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cgroup_machine():
    ok, why = cgroups.usable_here()
    if not ok:
        pytest.skip(f"cgroup limits cannot be tested here: {why}")


CHECK = "def check(candidate):\n    assert candidate(1) == 2\n"


def run_in_bwrap(code: str, limits: Limits):
    from evaluations.sandbox.backends import make_backend
    from evaluations.sandbox.engine import JailRunner
    from evaluations.sandbox.environment import environment_ensure

    runner = JailRunner(make_backend("bwrap"), environment_ensure())
    runner.start()
    try:
        assert runner.cgroup is not None and runner.info["cgroup"] == "joined"
        program = Program(id="p", code=code, harness=Harness(kind="check", entry_point="f", test=CHECK))
        first = runner.execute(program, limits)
        after = runner.execute(
            Program(id="next", code="def f(x):\n    return x + 1\n", harness=program.harness), Limits()
        )
        return first, after
    finally:
        runner.stop()


def test_a_shared_memory_bomb_is_stopped_by_memory_max(cgroup_machine, sandbox_environment):
    # Shared anonymous memory is outside RLIMIT_DATA: only the cgroup stops it.
    code = (
        "import mmap\ndef f(x):\n    m = mmap.mmap(-1, 2 << 30)\n"
        "    for i in range(0, 2 << 30, 4096):\n        m[i] = 1\n    return x + 1\n"
    )
    outcome, after = run_in_bwrap(code, Limits(memory_mb=128, timeout_s=10))
    assert outcome.status == OutcomeStatus.MEMORY, outcome
    assert outcome.details["cgroup"]["oom_kill"] >= 1 and outcome.details["cgroup"]["memory_max"] >= 1
    assert after.passed


def test_a_fork_bomb_is_stopped_by_pids_max(cgroup_machine, sandbox_environment):
    code = (
        "import os, time\ndef f(x):\n    n = 0\n    try:\n        for _ in range(10000):\n"
        "            if os.fork() == 0:\n                time.sleep(30)\n                os._exit(0)\n"
        "            n += 1\n    except OSError:\n        pass\n    return x + (1 if n >= 10000 else 0)\n"
    )
    outcome, after = run_in_bwrap(code, Limits(max_processes=16))
    assert outcome.status == OutcomeStatus.FAILED, outcome
    assert outcome.details["cgroup"]["pids_max"] >= 1
    assert after.passed
