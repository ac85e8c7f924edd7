"""nmre.eval: the clinical-validity suite (issue 9; method in docs/eval.md).

Every rule of every drill compares a measured quantity with a therapist's
tolerance; the simulator knows the true value of that quantity. The suite runs
fixed, seeded simulated sessions of every drill (several subjects, two noise
levels, full and minimal kits, strap rotation, mains hum, packet loss, a sensor
dropout, error severities drawn across each tolerance) through the real engine
and drills, and reports per rule:

* measurement accuracy (measured minus true: bias, RMSE, 95th percentile);
* verdict agreement with "the true value is outside the tolerance" (precision and
  recall) over units farther from the tolerance than the rule's stated accuracy
  (the margin), and the agreement inside the margin apart;
* detection latency, false alarms per minute on clean sessions, counts of reps /
  holds / transitions, and the fraction of units not judged under bad data;

held against the targets of issue 9.4 (:data:`TARGETS`).

>>> run = run_suite("quick")                 # doctest: +SKIP
>>> run.figures["drills"]["squat"]["rules"]["squat_depth"]["groups"]["target:full"]["recall"]  # doctest: +SKIP
"""

from nmre.eval.cases import GROUPS, SUITES, Case, suite_cases
from nmre.eval.margins import MARGINS, margin_for
from nmre.eval.metrics import TARGETS, Figures, aggregate, figures
from nmre.eval.model import CaseFailure, CaseResult, Margin, Observation, RuleView, Tolerance, TruthUnit
from nmre.eval.run import run_case, run_cases
from nmre.eval.suite import SuiteRun, regressions, results_document, run_suite

__all__ = [
    "GROUPS",
    "MARGINS",
    "SUITES",
    "TARGETS",
    "Case",
    "CaseFailure",
    "CaseResult",
    "Figures",
    "Margin",
    "Observation",
    "RuleView",
    "SuiteRun",
    "Tolerance",
    "TruthUnit",
    "aggregate",
    "figures",
    "margin_for",
    "regressions",
    "results_document",
    "run_case",
    "run_cases",
    "run_suite",
    "suite_cases",
]
