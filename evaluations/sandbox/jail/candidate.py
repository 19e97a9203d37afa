"""C, the candidate process: reads the program, executes it, then answers the harness's calls with exact-typed
values. When the harness is done, C waits to be killed: a C that exits before that has exited early."""

import io
import json
import os
import signal
import sys

from .codec import CodecError, decode, encode  # jail: concatenated
from .common import (  # jail: concatenated
    CANDIDATE_FILE,  # jail: concatenated
    RESULT,  # jail: concatenated
    _close_fds_except,  # jail: concatenated
    _exception_info,  # jail: concatenated
    _join_cgroup,  # jail: concatenated
    _read_exact,  # jail: concatenated
    _setrlimit,  # jail: concatenated
    read_frame,  # jail: concatenated
    send_json,  # jail: concatenated
    write_frame,  # jail: concatenated
)  # jail: concatenated


def _wait_to_be_killed():
    while True:
        signal.pause()


def run_candidate(code_fd, code_len, sock_fd, out_fd, scratch, limits, baseline_data, cgroup_fd=None):
    # First of all, before any of the program exists here: into the program's cgroup (memory, pids, cpu limits).
    in_cgroup = cgroup_fd is not None and _join_cgroup(cgroup_fd) == "joined"
    raw = _read_exact(code_fd, code_len)
    spec = json.loads(raw) if raw is not None else {}
    del raw
    os.dup2(sock_fd, 3)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    _close_fds_except([0, 1, 2, 3])
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGALRM, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.chdir(scratch)
    os.environ.clear()
    mem = int(limits["memory_mb"]) * 1024 * 1024
    _setrlimit("RLIMIT_DATA", baseline_data + mem)
    _setrlimit("RLIMIT_CPU", int(limits["timeout_s"]) + 2)
    if not in_cgroup:
        # pids.max counts this program's own tree; RLIMIT_NPROC counts every process of the jail's uid (other
        # runners' included), so it is the limit only where there is no cgroup.
        _setrlimit("RLIMIT_NPROC", int(limits["max_processes"]))
    _setrlimit("RLIMIT_NOFILE", int(limits["max_open_files"]))
    _setrlimit("RLIMIT_FSIZE", int(limits["max_file_bytes"]))
    _setrlimit("RLIMIT_CORE", 0)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True, errors="replace")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True, errors="replace")
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))

    def reply(obj):
        send_json(3, obj)

    # Same namespace shape as the official harness: the program runs in an empty globals dict.
    namespace = {}
    try:
        exec(compile(spec.get("code", ""), CANDIDATE_FILE, "exec"), namespace)
    except SystemExit as exc:
        reply({"exit": _exception_info(exc)})
        _wait_to_be_killed()
    except BaseException as exc:
        reply({"exec_error": _exception_info(exc)})
        _wait_to_be_killed()
    entry = spec.get("entry_point", "")
    function = namespace.get(entry)
    if not callable(function):
        reply(
            {
                "exec_error": {
                    "type": "NameError",
                    "module": "builtins",
                    "line": None,
                    "traceback": "",
                    "message": f"name '{entry}' is not defined",
                }
            }
        )
        _wait_to_be_killed()
    reply({"ready": True})
    while True:
        try:
            request = read_frame(3)
        except Exception:
            request = None
        if request is None:
            _wait_to_be_killed()
        try:
            args, kwargs = decode(request)
            result = function(*args, **kwargs)
        except SystemExit as exc:
            reply({"exit": _exception_info(exc)})
            _wait_to_be_killed()
        except BaseException as exc:
            reply({"raise": _exception_info(exc)})
            continue
        try:
            payload = encode(result)
        except (CodecError, RecursionError, MemoryError, ValueError) as exc:
            reply(
                {
                    "raise": {
                        "type": "UnrepresentableValue",
                        "module": "",
                        "line": None,
                        "traceback": "",
                        "message": f"the return value cannot be compared: {exc}",
                    }
                }
            )
            continue
        except BaseException as exc:
            reply({"raise": _exception_info(exc)})
            continue
        write_frame(3, RESULT + payload)
