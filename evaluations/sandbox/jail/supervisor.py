"""R, the supervisor, and the runner's entry point (standard library only).

The host sends the jail modules' source (codec, common, candidate, harness, supervisor, concatenated) to a bootstrap
interpreter, then one control header per program. Three kinds of process share a jail:

R  the supervisor: pid 1 under bwrap, non-dumpable. It keeps T alive, forks a fresh C per program, enforces the
   deadline from outside, drains C's output, then kills every process but T, reaps them and wipes every writable
   place. R never reads test material, candidate code or verdicts: those travel host->T (test spec and program),
   T->C (the compiled program) and T->host through pipes of their own, so nothing secret is in the memory each
   candidate is forked from.
T  the trusted harness (harness.py): long-lived, non-dumpable, deaf to catchable signals; restarted if it dies.
C  the candidate (candidate.py): a fresh process per program.
"""

import _socket
import contextlib
import errno
import gc
import json
import os
import select
import signal
import socket
import sys
import time

from .candidate import limit_plan, prepare_candidates, run_candidate  # jail: concatenated
from .common import (  # jail: concatenated
    DONE,  # jail: concatenated
    RUN,  # jail: concatenated
    _close_fds_except,  # jail: concatenated
    _devnull_std,  # jail: concatenated
    _join_cgroup,  # jail: concatenated
    _set_dumpable,  # jail: concatenated
    loads_json,  # jail: concatenated
    read_frame,  # jail: concatenated
    send_json,  # jail: concatenated
    write_frame,  # jail: concatenated
)  # jail: concatenated
from .harness import serve_harness  # jail: concatenated


def _read_vm_data_bytes():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 256 * 1024 * 1024


def _children_of(pid, exclude=()):
    """Direct children of ``pid`` (but ``exclude``): one read of /proc/PID/task/PID/children, else a scan of /proc."""
    # Raw descriptors, not a file object: this runs after every program, and each page it touches costs a fault.
    try:
        fd = os.open(f"/proc/{pid}/task/{pid}/children", os.O_RDONLY)
    except OSError:
        fd = None
    if fd is not None:
        try:
            data = b""
            while chunk := os.read(fd, 1 << 16):
                data += chunk
            found = []
            for field in data.split():
                child = int(field)
                if child not in exclude:
                    found.append(child)
            return found
        except OSError:
            pass
        finally:
            os.close(fd)
    found = []
    needle = str(pid)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and fields[1].decode() == needle and int(name) not in exclude:
            found.append(int(name))
    return found


def _sweep(keep, first):
    """Kill the program's process ``first`` and every other process this supervisor parented but ``keep`` (T);
    orphans come back to us (we are pid 1, or a subreaper) and die in turn, until none is left. Returns ``first``'s
    wait status and resource usage (None, None if it was not ours to reap) and how many processes were reaped."""
    # Plain loops and try statements, and waitpid (no resource-usage object) for all but the program's process: this
    # runs after every program, in a process whose pages the program's fork has just made copy-on-write, so every
    # frame and object it builds costs a page fault.
    status = usage = None
    reaped = 0
    try:  # noqa: SIM105 - a bare try builds nothing; contextlib.suppress builds an object per call
        os.kill(first, _SIGKILL)
    except ProcessLookupError:
        pass
    try:
        _, status, usage = os.wait4(first, 0)
        reaped = 1
    except ChildProcessError:
        pass
    me = os.getpid()
    while True:
        while True:  # whatever else has died meanwhile
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            reaped += 1
        victims = _children_of(me, exclude=(keep,))
        if not victims:
            return status, usage, reaped
        for pid in victims:
            try:  # noqa: SIM105 - see above
                os.kill(pid, _SIGKILL)
            except ProcessLookupError:
                pass
        for pid in victims:
            try:
                os.waitpid(pid, 0)
                reaped += 1
            except ChildProcessError:
                pass


_SIGKILL = int(signal.SIGKILL)
_socketpair = _socket.socketpair
_AF_UNIX, _SOCK_STREAM = int(socket.AF_UNIX), int(socket.SOCK_STREAM)


def _fd_bytes(fd):
    """A descriptor as SCM_RIGHTS data (what socket.send_fds builds with the array module, in fewer steps)."""
    return fd.to_bytes(4, sys.byteorder, signed=True)


def _harness_done(sock):
    """T's word that it has judged the program (harness.py): (True, the pid the candidate's messages came from: 0 if
    none came, -1 if not all from one process), or (False, 0) if T is gone or said something else."""
    data = sock.recv(5)
    while 0 < len(data) < 5:
        more = sock.recv(5 - len(data))
        if not more:
            break
        data += more
    if len(data) != 5 or data[:1] != DONE:
        return False, 0
    return True, int.from_bytes(data[1:], sys.byteorder, signed=True)


def _describe_exit(status):
    """How the program's process ended, as JSON text."""
    if status is None:
        return "null"
    if os.WIFSIGNALED(status):
        return f'{{"signal":{os.WTERMSIG(status):d}}}'
    return f'{{"code":{os.WEXITSTATUS(status):d}}}'


# The per-program messages the supervisor writes, as templates rather than dicts through the JSON encoder: the
# report is built after the program's fork, when every object built costs a copy-on-write fault (building and
# encoding it as a dict cost ~13 per program, counted). Floats as %.6f (valid JSON, no exponent), strings through
# json's own escaping.
_REPORT = (
    '{"elapsed_s":%.6f,"timed_out":%s,"spec_acknowledged":%s,"harness_lost":%s,"candidate_exit":%s,'
    '"candidate_exited_early":%s,"answered_elsewhere":%s,"peak_memory_kb":%s,"cpu_s":%s,"output":%s,"output_bytes":%d,'
    '"output_truncated":%s,"processes":%d,"supervisor_cpu_s":%.6f}'
)
_JSON_BOOL = ("false", "true")
_json_string = json.encoder.encode_basestring_ascii


def _wipe(path):
    # Imported when first needed (a program left something behind): shutil brings bz2, lzma and zlib with it, and
    # every page and mapping the supervisor holds is copied into each program's process at fork.
    import shutil

    def onerror(func, p, exc_info):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    for entry in os.listdir(path):
        full = os.path.join(path, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, onerror=onerror)
        else:
            with contextlib.suppress(OSError):
                os.unlink(full)


class Supervisor:
    def __init__(self, config):
        self.cfg = config
        self.ctl_in, self.ctl_out, self.spec_fd, self.code_fd, self.verdict_fd = config["fds"]
        self.scratch_root = config["scratch_root"]
        self.scratch = os.path.join(self.scratch_root, "run")
        self.wipe_roots = [p for p in config.get("wipe_roots", [self.scratch_root]) if os.path.isdir(p)]
        self.baseline_data = _read_vm_data_bytes()
        cgroup_fds = config.get("cgroup_fds") or []
        self.cgroup_fd = cgroup_fds[1] if config.get("cgroup") == "joined" else None
        self.t_pid = None
        self.t_sock = None
        self.harness_restarts = 0
        self.limits, self.limit_plans = None, ()
        self.timeout_s, self.output_cap = 0.0, 0  # from the limits, worked out when they change

    def _left_nothing(self):
        """Remove the program's scratch directory and its parent if they are empty (rmdir never follows a link), and
        say whether every writable place is then empty too: the usual case, which needs no walk of the tree."""
        try:
            os.rmdir(self.scratch)
            os.rmdir(self.scratch_root)
            for root in self.wipe_roots:  # noqa: SIM110 - a loop builds no generator object
                if os.listdir(root):
                    return False
            return True
        except OSError:
            return False

    # T lives across programs; it is restarted whenever it dies or misbehaves.
    def start_harness(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            try:
                mine.close()
                os.chdir("/")
                _devnull_std()
                _close_fds_except([0, 1, 2, theirs.fileno(), self.spec_fd, self.code_fd, self.verdict_fd])
                serve_harness(theirs, self.spec_fd, self.code_fd, self.verdict_fd)
            finally:
                os._exit(70)
        theirs.close()
        self.t_pid, self.t_sock = pid, mine
        self.harness_restarts += 1

    def stop_harness(self):
        if self.t_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.t_pid, _SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.t_pid, 0)
        if self.t_sock is not None:
            self.t_sock.close()
        self.t_pid, self.t_sock = None, None

    def harness_alive(self):
        if not self.t_pid:
            return False
        try:
            pid, _ = os.waitpid(self.t_pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return pid == 0

    def serve(self):
        self.start_harness()
        send_json(
            self.ctl_out,
            {
                "ready": True,
                "pid": os.getpid(),
                "uid": os.getuid(),
                "python": sys.version.split()[0],
                "cgroup": self.cfg.get("cgroup", "none"),
            },
        )
        while True:
            # A program is RUN and the harness's request, passed on as it is; before the first program and whenever
            # the limits change, it is {"op": "run", "limits": ..., "request": the same request} instead.
            data = read_frame(self.ctl_in, 1 << 20)
            if data is None:
                self.stop_harness()
                return
            if data[:1] == RUN and self.limits is not None:
                request = data[1:]
            else:
                message = loads_json(data)
                if message.get("op") != "run":
                    self.stop_harness()  # {"op": "exit"}
                    return
                self.set_limits(message["limits"])
                request = message["request"].encode()
            write_frame(self.ctl_out, self.run_one(request))

    def set_limits(self, limits):
        if limits != self.limits:
            self.limits = limits
            self.timeout_s, self.output_cap = float(limits["timeout_s"]), int(limits["output_bytes"])
            self.limit_plans = (
                limit_plan(limits, self.baseline_data, False),
                limit_plan(limits, self.baseline_data, True) if self.cgroup_fd is not None else (),
            )

    def run_one(self, request):
        """Run one program (``request``: what the harness is told); its report as JSON text (``_REPORT``), encoded."""
        before = time.process_time()
        report = self._run_one(request)
        return (_REPORT % (*report, time.process_time() - before)).encode()

    def _run_one(self, request):
        if not self.harness_alive():
            self.stop_harness()
            self.start_harness()
        try:  # noqa: SIM105 - see _sweep
            os.kill(self.t_pid, signal.SIGCONT)  # an earlier program may have stopped it
        except ProcessLookupError:
            pass
        os.mkdir(self.scratch, 0o700)
        os.chdir(self.scratch)  # for the candidate to inherit; the next program's is a new directory
        # Bare descriptors from here on: this process only hands them over and closes them. _socket's socketpair,
        # not socket.socketpair, which wraps each end in a Python-level socket object (~20 copy-on-write faults
        # per program, counted).
        t_sock, c_sock = _socketpair(_AF_UNIX, _SOCK_STREAM)
        t_end, c_end = t_sock.detach(), c_sock.detach()
        out_r, out_w = os.pipe()
        harness_told = True
        try:
            self.t_sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, _fd_bytes(t_end))])
        except OSError:
            harness_told = False
        os.close(t_end)
        plans = self.limit_plans
        c_pid = os.fork()
        if c_pid == 0:
            try:
                # The candidate keeps only its channel and output pipe: it closes every other descriptor (this
                # supervisor's end of the harness's socket and of the output pipe included) in one call.
                run_candidate(c_end, out_w, plans, self.cgroup_fd)
            finally:
                os._exit(71)
        os.close(c_end)
        os.close(out_w)
        started = time.monotonic()
        deadline = started + self.timeout_s
        cap = self.output_cap
        output, total = None, 0  # a bytearray once there is output: most programs print nothing
        c_fd = os.pidfd_open(c_pid)
        timed_out = harness_gone = False
        c_exited_early = False
        sender = 0
        harness_done = not harness_told
        watch = [out_r, self.t_sock, c_fd]
        while not harness_done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            try:
                readable, _, _ = select.select(watch, [], [], remaining)
            except InterruptedError:
                continue
            if out_r in readable:
                chunk = os.read(out_r, 65536)
                if chunk:
                    total += len(chunk)
                    if output is None:
                        output = bytearray()
                    output += chunk
                    if len(output) > cap:
                        del output[: len(output) - cap]
                else:
                    watch.remove(out_r)
            if c_fd in readable:
                c_exited_early = True
                watch.remove(c_fd)
            if self.t_sock in readable:
                harness_done, sender = _harness_done(self.t_sock)
                harness_gone = not harness_done
                break
        elapsed = time.monotonic() - started
        c_status, c_usage, reaped = _sweep(self.t_pid, c_pid)
        os.close(c_fd)
        if timed_out or not harness_done:
            # The candidate is gone now, so the harness sees its channel close and reports; give it a moment.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.t_pid, signal.SIGCONT)
            ready, _, _ = select.select([self.t_sock], [], [], 2.0)
            harness_done, sender = _harness_done(self.t_sock) if ready else (False, 0)
            if not harness_done:
                harness_gone = True
                self.stop_harness()
        while True:
            try:
                chunk = os.read(out_r, 65536)
            except OSError:
                break
            if not chunk:
                break
            total += len(chunk)
            if output is None:
                output = bytearray()
            output += chunk
            if len(output) > cap:
                del output[: len(output) - cap]
        os.close(out_r)
        if self._left_nothing():
            os.mkdir(self.scratch_root)
        else:
            for root in self.wipe_roots:
                _wipe(root)
            os.makedirs(self.scratch_root, exist_ok=True)
        # Every message must have come from the program's own process: a process it forked that answered instead
        # (while the program's own exited, or waited) makes the program one that left before its tests finished.
        # Unlike the end of its process, which this loop may see only after the harness is done, this does not
        # depend on timing.
        answered_elsewhere = sender != 0 and sender != c_pid
        # The fields of _REPORT, in its order (the supervisor's CPU is added by run_one).
        return (
            elapsed,
            _JSON_BOOL[timed_out],
            _JSON_BOOL[harness_told],
            _JSON_BOOL[harness_gone],
            _describe_exit(c_status),
            _JSON_BOOL[(c_exited_early or answered_elsewhere) and not timed_out],
            _JSON_BOOL[answered_elsewhere],
            f"{c_usage.ru_maxrss:d}" if c_usage else "null",
            f"{c_usage.ru_utime + c_usage.ru_stime:.6f}" if c_usage else "null",
            _json_string(bytes(output).decode("utf-8", "replace")) if output else '""',
            total,
            _JSON_BOOL[total > cap],
            reaped,
        )


def _release_free_memory():
    """Give the allocator's free pages back to the kernel (glibc's malloc_trim) before the first fork. Loading leaves
    freed memory resident, and every resident page is copied into each program's page tables at fork and unmapped
    when it dies (about 0.07 ms of CPU per program for each MB here)."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except Exception:  # not glibc: nothing to release this way
        pass


def _drop_privileges(config):
    drop = config.get("drop_to")
    if drop and os.getuid() == 0:
        os.setgroups([])
        os.setgid(int(drop[1]))
        os.setuid(int(drop[0]))
        if os.getuid() == 0 or os.geteuid() == 0:
            raise SystemExit("could not drop privileges")


def main(config):
    # The host's cgroups (cgroups.py), joined before anything is loaded: [the jail's, each program's].
    cgroup_fds = config.get("cgroup_fds") or []
    config["cgroup"] = _join_cgroup(cgroup_fds[0]) if cgroup_fds else "none"
    for path in config.get("site_paths", []):
        sys.path.append(path)
    os.environ.clear()
    # Single-threaded numerical libraries: predictable memory, and forked children do not inherit idle thread pools.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    for module in config.get("preload", []):
        with contextlib.suppress(Exception):
            __import__(module)
    os.environ.clear()  # and so it stays: every program's process inherits this empty environment
    _drop_privileges(config)
    _set_dumpable(False)
    if os.getpid() != 1:
        try:
            import ctypes

            ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us
            ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        except Exception:
            pass
    # keep_fds: the Docker bootstrap's own pipe ends (docker_backend.py).
    keep = [*config["fds"], *cgroup_fds, *config.get("keep_fds", [])]
    _devnull_std()
    _close_fds_except([0, 1, 2, *keep])
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        os.makedirs(config["scratch_root"], exist_ok=True)
        prepare_candidates()
        _release_free_memory()
        supervisor = Supervisor(config)
        # Everything loaded so far is shared by every fork: keep the collector from walking (and so copying) it.
        gc.freeze()
        supervisor.serve()
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
