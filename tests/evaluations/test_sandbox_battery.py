"""The attack and fault battery (tests/evaluations/battery.py), run inside a throw-away namespace."""

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.evaluations.battery import ATTACKS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def battery(sandbox_environment, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the battery's throw-away outer namespace is built with privileged bubblewrap (run as root)")
    out_dir = tmp_path_factory.mktemp("battery")
    out = out_dir / "report.json"
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CODEQUAL_DATA_DIR": "/tmp/battery-data",
        "SANDBOX_ENVIRONMENTS_DIR": str(sandbox_environment.site_packages.parent.parent),
        "CQB_BATTERY_SECRET": "cqb-secret-" + secrets.token_hex(8),
        "PYTHONPATH": str(ROOT),
    }
    # The outer namespace gets its own /tmp: what it needs from the host's /tmp (a checkout there, as in CI) stays.
    keep_visible = []
    for path in {ROOT, ROOT.parent / "shared", Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}:
        if path.exists() and Path("/tmp") in path.parents:
            keep_visible += ["--ro-bind", str(path), str(path)]
    command = [
        shutil.which("bwrap"),
        "--ro-bind",
        "/",
        "/",
        "--tmpfs",
        "/tmp",
        *keep_visible,
        "--bind",
        str(out_dir),
        str(out_dir),
        "--tmpfs",
        "/run",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--die-with-parent",
        "--cap-add",
        "ALL",
        "--chdir",
        str(ROOT),
        sys.executable,
        "-m",
        "tests.evaluations.battery_runner",
        str(out),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), env["CQB_BATTERY_SECRET"]


def test_battery_is_large_and_covers_every_category():
    assert len(ATTACKS) >= 40
    assert len({a.name for a in ATTACKS}) == len(ATTACKS)
    assert {a.category for a in ATTACKS} == {"network", "secrets", "filesystem", "processes", "resources", "forgery"}


@pytest.mark.parametrize("attack", [a.name for a in ATTACKS])
def test_attack_is_contained(battery, attack):
    report, _ = battery
    case = next(c for c in report["cases"] if c["name"] == attack)
    assert case["status"] != "passed", case
    assert case["status"] in case["expect"], case
    if case["probe"] is not None:
        assert case["probe"] == "failed", f"{attack} left something the next program found: {case}"
    assert case["canary"] == "passed", f"the program after {attack} was affected: {case}"
    assert case["connections"] == [], case
    assert case["sentinel_intact"], case
    assert case["sandbox_processes"] == [], f"{attack} left processes behind: {case}"
    if "output_capped" in case["checks"]:
        assert case["output_truncated"] and case["output_len"] <= report["output_cap"], case


def test_every_attack_ran(battery):
    report, _ = battery
    assert [case["name"] for case in report["cases"]] == [attack.name for attack in ATTACKS]
