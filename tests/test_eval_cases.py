"""The project's own labeled cases (``evals/cases``) through the offline engine, as
``make test`` runs them: no critical violation, and the pass rate is exactly the
baseline committed beside the cases (below it fails; above it, raise the baseline)."""

from __future__ import annotations

import json
from pathlib import Path

from evals.report import summarize
from evals.run import run_cases

CASES = Path(__file__).resolve().parents[1] / "evals" / "cases"
BASELINE = CASES / "baseline.json"


def test_the_labeled_cases_meet_the_committed_baseline(settings):
    baseline = json.loads(BASELINE.read_text())
    results = run_cases([CASES], settings)
    summary = summarize(results)

    critical = [r.id for r in results if r.critical]
    assert not critical, f"critical violations: {critical}"
    kinds = summary["by_kind"]
    assert kinds["reply"]["cases"] >= 150 and kinds["decision"]["cases"] >= 80
    rate = summary["pass_rate"]
    assert rate >= baseline["pass_rate"], (
        f"pass rate {rate} fell below the baseline {baseline['pass_rate']}; failing: "
        + ", ".join(r.id for r in results if not r.passed)
    )
    assert rate <= baseline["pass_rate"] + 0.0001, (
        f"pass rate rose to {rate}: raise the baseline in {BASELINE} (pass_rate {rate}, "
        f"passed {summary['passed']} of {summary['cases']})"
    )
