"""``security``: bandit's findings on a sample's program, read statically (never run), and a score from them.

bandit's manager parses the program from memory (no file is written); ``# nosec`` comments are ignored, since the
code under test wrote them. Findings carry the program's line numbers (the prompt included).

Score: ``1 / (1 + W)``, that is ``1 - W / (1 + W)``, where ``W`` sums over the findings the severity weight (low
0.25, medium 0.5, high 1) times the confidence weight (low 1/3, medium 2/3, high 1). Clean code scores 1; one
high-severity, high-confidence finding 0.5; the score falls towards 0 as findings add up.
"""

import io
import logging
import threading
import warnings
from collections import Counter

from .base import BaseMetric, MetricError, MetricInput
from .registry import register_metric

SEVERITY_WEIGHTS = {"LOW": 0.25, "MEDIUM": 0.5, "HIGH": 1.0}
CONFIDENCE_WEIGHTS = {"LOW": 1 / 3, "MEDIUM": 2 / 3, "HIGH": 1.0}
LEVELS = ("low", "medium", "high")
# An assert in a solution is an input check, not a vulnerability; counting it would penalise defensive code.
DEFAULT_SKIP = ("B101",)
# bandit's visitor derives a module name from the file name: a name at the root never touches the disk.
SAMPLE_NAME = "/sample.py"

_bandit: tuple | None = None
_bandit_lock = threading.Lock()


def _load_bandit() -> tuple:
    """bandit's manager module and default configuration (every plugin), loaded once per process (bandit is
    imported only when the metric runs: it takes a third of a second)."""
    global _bandit
    with _bandit_lock:
        if _bandit is None:
            # Loading its plugins, bandit 1.9 passes stevedore's deprecated verify_requirements, and stevedore logs
            # an error for each optional report formatter whose extra is not installed (sarif): neither matters here.
            stevedore_log = logging.getLogger("stevedore.extension")
            level = stevedore_log.level
            stevedore_log.setLevel(logging.CRITICAL)
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "The verify_requirements argument", DeprecationWarning)
                    from bandit.core import config, manager
            finally:
                stevedore_log.setLevel(level)

            _bandit = (manager, config.BanditConfig())
        return _bandit


def findings(code: str, *, skip: frozenset[str] = frozenset(DEFAULT_SKIP)) -> list[dict]:
    """bandit's findings on ``code``, by line; raises ValueError when the code does not parse."""
    manager, config = _load_bandit()
    scanner = manager.BanditManager(config, "file", ignore_nosec=True, quiet=True)
    scanner._parse_file(SAMPLE_NAME, io.BytesIO(code.encode("utf-8")), [SAMPLE_NAME])  # in memory: no file
    if scanner.skipped:
        raise ValueError(f"bandit cannot read the program: {scanner.skipped[0][1]}.")
    found = [
        {
            "test_id": issue.test_id,
            "test_name": issue.test,
            "severity": issue.severity.lower(),
            "confidence": issue.confidence.lower(),
            "cwe": issue.cwe.id or None,
            "line": issue.lineno,
            "message": issue.text,
        }
        for issue in scanner.results
        if issue.test_id not in skip
    ]
    return sorted(found, key=lambda f: (f["line"], f["test_id"]))


def security_score(found: list[dict]) -> float:
    weighted = sum(SEVERITY_WEIGHTS[f["severity"].upper()] * CONFIDENCE_WEIGHTS[f["confidence"].upper()] for f in found)
    return 1.0 / (1.0 + weighted)


@register_metric
class Security(BaseMetric):
    name = "security"
    description = (
        "bandit's findings on the program (test id, severity, confidence, CWE, line), read statically; score "
        "1 / (1 + sum of severity x confidence weights): 1 for clean code."
    )
    value_range = (0, 1)
    higher_is_better = True
    summary_fields = ("score", "count")

    @classmethod
    def parameters(cls) -> dict[str, str]:
        return {
            "skip": f"bandit test ids to leave out (default {', '.join(DEFAULT_SKIP)}: asserts); [] keeps them all.",
            "min_severity": "Leave out findings below this severity: low (default), medium or high.",
            "min_confidence": "Leave out findings below this confidence: low (default), medium or high.",
        }

    def __init__(self, **params):
        super().__init__(**params)
        skip = params.get("skip", list(DEFAULT_SKIP))
        if not isinstance(skip, list | tuple) or not all(isinstance(s, str) for s in skip):
            raise MetricError("security: skip must be a list of bandit test ids, e.g. [B101].")
        self.skip = frozenset(s.upper() for s in skip)
        self.floor = {}
        for key in ("min_severity", "min_confidence"):
            level = params.get(key, "low")
            if level not in LEVELS:
                raise MetricError(f"security: {key} must be one of {', '.join(LEVELS)}.")
            self.floor[key.removeprefix("min_")] = LEVELS.index(level)

    def compute(self, sample: MetricInput) -> dict:
        if sample.language != "python":
            raise ValueError(f"bandit reads Python only, not {sample.language}.")
        found = [
            f
            for f in findings(sample.program, skip=self.skip)
            if all(LEVELS.index(f[key]) >= floor for key, floor in self.floor.items())
        ]
        by_severity = Counter(f["severity"] for f in found)
        return {
            "score": round(security_score(found), 6),
            "count": len(found),
            **{level: by_severity.get(level, 0) for level in LEVELS},
            "findings": found,
        }

    def aggregate(self, values: list[dict]) -> dict:
        """The base description of score and count, plus the findings of the model counted by test, CWE, severity."""
        out = super().aggregate(values)
        found = [f for v in values if isinstance(v, dict) and "error" not in v for f in v.get("findings", ())]
        out["findings"] = len(found)
        out["samples_with_findings"] = sum(1 for v in values if isinstance(v, dict) and v.get("count"))
        out["by_severity"] = {level: sum(f["severity"] == level for f in found) for level in LEVELS}
        out["by_test"] = dict(sorted(Counter(f["test_id"] for f in found).items()))
        out["by_cwe"] = dict(sorted(Counter(str(f["cwe"]) for f in found if f["cwe"]).items()))
        return out
