"""C, the candidate process: receives its program from the harness (compiled there), executes it, then answers the
harness's calls with exact-typed values. When the harness is done, C waits to be killed: a C that exits before that
has exited early."""

import contextlib
import io
import marshal
import os
import resource
import signal
import socket
import sys

from .codec import CodecError, decode, encode  # jail: concatenated
from .common import (  # jail: concatenated
    CANDIDATE_FILE,  # jail: concatenated
    MARSHALLED,  # jail: concatenated
    RESULT,  # jail: concatenated
    _exception_info,  # jail: concatenated
    _join_cgroup,  # jail: concatenated
    compact_json,  # jail: concatenated
    frame,  # jail: concatenated
    read_frame,  # jail: concatenated
    send_json,  # jail: concatenated
    write_frame,  # jail: concatenated
)  # jail: concatenated


def _wait_to_be_killed():
    while True:
        signal.pause()


# Everything below that each program's process needs and that does not depend on the program is set up once, in
# the supervisor, before it forks any: a fork inherits it, and every page a program's process touches is a
# copy-on-write fault (about 3.5 microseconds here), so work done once there is not repeated per program.
READY_FRAME = frame(b'{"ready":true}')  # the reply that says the program loaded, framed once
_RLIMITS = ("RLIMIT_DATA", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CORE")
_HARD_LIMITS = {}


def prepare_candidates():
    """Signal dispositions, standard streams and rlimit ceilings for every program this supervisor will fork."""
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # fds 0-2: /dev/null here; in a program's process 1 and 2 become its output pipe (same numbers, so the same
    # objects serve). closefd=False: the objects never close the descriptors they stand for.
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), "utf-8", "replace", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), "utf-8", "replace", write_through=True)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), "utf-8")
    # Lazy imports and caches of the paths each program takes (describing an exception, encoding a value), and the
    # specialised bytecode of the code that runs them, are made here once rather than in every program's process.
    _warm_up()
    for name in _RLIMITS:
        res = getattr(resource, name, None)
        if res is not None:
            with contextlib.suppress(ValueError, OSError):
                _HARD_LIMITS[res] = resource.getrlimit(res)[1]


def limit_plan(limits, baseline_data, in_cgroup):
    """The setrlimit calls for a program's limits: the supervisor works them out (when the limits change), so the
    program's own process only makes the calls."""
    wanted = {
        "RLIMIT_DATA": baseline_data + int(limits["memory_mb"]) * 1024 * 1024,
        "RLIMIT_CPU": int(limits["timeout_s"]) + 2,
        "RLIMIT_NOFILE": int(limits["max_open_files"]),
        "RLIMIT_FSIZE": int(limits["max_file_bytes"]),
        "RLIMIT_CORE": 0,
    }
    if not in_cgroup:
        # pids.max counts this program's own tree; RLIMIT_NPROC counts every process of the jail's uid (other
        # runners' included), so it is the limit only where there is no cgroup.
        wanted["RLIMIT_NPROC"] = int(limits["max_processes"])
    plan = []
    for name, value in wanted.items():
        res = getattr(resource, name, None)
        if res not in _HARD_LIMITS:
            continue
        hard = _HARD_LIMITS[res]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        plan.append((res, (value, value)))
    return tuple(plan)


def _apply_limits(plan):
    for res, pair in plan:
        try:  # noqa: SIM105 - a bare try costs a program's process less than contextlib's machinery
            resource.setrlimit(res, pair)
        except (ValueError, OSError):
            pass


def run_candidate(sock_fd, out_fd, limit_plans, cgroup_fd=None):
    """The program's own process, forked from a supervisor that ran ``prepare_candidates``. ``limit_plans``: the
    rlimits to apply (``limit_plan``) outside a cgroup and inside one."""
    # First of all, before any of the program exists here: into the program's cgroup (memory, pids, cpu limits).
    in_cgroup = cgroup_fd is not None and _join_cgroup(cgroup_fd) == "joined"
    os.dup2(sock_fd, 3)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    # fd 0 is the supervisor's /dev/null; everything above 3 (the supervisor's pipes, this program's spare ends)
    # goes, in one close_range call.
    os.closerange(4, 1 << 16)
    # The working directory (the scratch directory) and the empty environment come from the supervisor.
    _apply_limits(limit_plans[in_cgroup])

    # The program, from the harness: (entry point, code object) compiled there, or (entry point, source) for this
    # process to compile under its own limits (harness.py, _program_message). Only the trusted harness writes this
    # frame, and only this process, the untrusted one, reads it: nothing the program makes is ever unmarshalled.
    try:
        message = read_frame(3)
        function, refusal = _load(message)
    except Exception:
        _wait_to_be_killed()
    if function is None:
        send_json(3, refusal)
        _wait_to_be_killed()
    os.write(3, READY_FRAME)
    while True:
        try:
            request = read_frame(3)
        except Exception:
            request = None
        if request is None:
            _wait_to_be_killed()
        reply, exited = _answer(function, request)
        write_frame(3, reply)
        if exited:
            _wait_to_be_killed()


def _load(message):
    """Run the program: (its function, None), or (None, the message that says why there is none)."""
    entry, code = marshal.loads(message)  # noqa: S302 - written by the trusted harness
    # Same namespace shape as the official harness: the program runs in an empty globals dict.
    namespace = {}
    try:
        if type(code) is str:
            code = compile(code, CANDIDATE_FILE, "exec", dont_inherit=True)
        exec(code, namespace)
    except SystemExit as exc:
        return None, {"exit": _exception_info(exc)}
    except BaseException as exc:
        return None, {"exec_error": _exception_info(exc)}
    function = namespace.get(entry)
    if not callable(function):
        return None, {
            "exec_error": {
                "type": "NameError",
                "module": "builtins",
                "line": None,
                "traceback": "",
                "message": f"name '{entry}' is not defined",
            }
        }
    return function, None


def _answer(function, request):
    """One call of the program's function: the reply to send, and whether the program exited (SystemExit)."""
    try:
        if request[:1] == MARSHALLED:
            args, kwargs = marshal.loads(request[1:])  # noqa: S302 - written by the trusted harness
        else:
            args, kwargs = decode(request)
        result = function(*args, **kwargs)
    except SystemExit as exc:
        return compact_json({"exit": _exception_info(exc)}).encode(), True
    except BaseException as exc:
        return compact_json({"raise": _exception_info(exc)}).encode(), False
    try:
        return RESULT + encode(result), False
    except (CodecError, RecursionError, MemoryError, ValueError) as exc:
        unrepresentable = {
            "type": "UnrepresentableValue",
            "module": "",
            "line": None,
            "traceback": "",
            "message": f"the return value cannot be compared: {exc}",
        }
        return compact_json({"raise": unrepresentable}).encode(), False
    except BaseException as exc:
        return compact_json({"raise": _exception_info(exc)}).encode(), False


# A stand-in program that takes each path of _load and _answer (a result of each kind, an exception, SystemExit, the
# codec's arguments), run in the supervisor before it forks any program (_warm_up). It also imports as programs
# commonly do and annotates with typing's generics as HumanEval's prompts do: typing caches each subscripted alias,
# and an alias the supervisor has already made costs a program's process ~45 fewer copy-on-write faults (counted).
_WARM_UP_PROGRAM = """
import math
from typing import Any, Dict, List, Optional, Tuple


def g(a: List[int], b: List[str], c: List[float], d: Tuple[int, int], e: Tuple[float, float]) -> Optional[str]:
    return None


def h(a: List[Any], b: Dict[str, int], c: Optional[int], d: List[List[int]]) -> List[Tuple[int, int]]:
    return []


def f(x, *args, **kwargs):
    if x == 0:
        raise ValueError("zero")
    if x == 1:
        raise SystemExit(1)
    return [x, (x, 2.5, "s", None, True), {x: frozenset({b"x"})}, {1.5}, args, kwargs]
"""
_WARM_UP_ROUNDS = 16  # CPython 3.11 quickens code after 8 calls; specialisation follows within a few more


def _warm_up():
    """Run the candidate's own code paths here, in the supervisor, until CPython has specialised them. CPython 3.11
    rewrites a function's bytecode as it warms up (counters, then specialised instructions) and assigns version tags
    to the functions, dicts and types it specialises for: done in each program's fresh process, every such write is a
    copy-on-write fault. Done once here, the forks inherit code that is already warm."""
    program = marshal.dumps(("f", compile(_WARM_UP_PROGRAM, CANDIDATE_FILE, "exec")))
    missing = marshal.dumps(("g", compile(_WARM_UP_PROGRAM, CANDIDATE_FILE, "exec")))
    broken = marshal.dumps(("f", "def f(:\n"))
    calls = [
        MARSHALLED + marshal.dumps(((2,), {})),
        MARSHALLED + marshal.dumps((([1, 2], "a"), {"k": (1,)})),
        MARSHALLED + marshal.dumps(((0,), {})),
        MARSHALLED + marshal.dumps(((1,), {})),
        encode(((3, iter([1])), {})),
    ]
    left, right = socket.socketpair()
    try:
        for _ in range(_WARM_UP_ROUNDS):
            function, _ = _load(program)
            _load(missing)
            _load(broken)
            for request in calls:
                reply, _ = _answer(function, request)
                write_frame(left.fileno(), reply)
                read_frame(right.fileno())
            send_json(left.fileno(), {"ready": True})
            read_frame(right.fileno())
    finally:
        left.close()
        right.close()
