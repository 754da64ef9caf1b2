"""Budget: JUnit for 10,000 test cases < 0.5 s. `python bench/junit_10k.py [RUNS]`.

Each run is a fresh process (the first report of a process pays for importing junit_xml and
compiling patterns, as a real run does). Prints the median wall and CPU seconds of
`ci.reports.write_junit`, and the same for junit-xml's own `to_xml_report_string` (minidom
pretty-printing) for comparison.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ci import reports
from ci.core.findings import Case, Finding, Report

CASES = 10_000


def corpus() -> list[Report]:
    """Two suites of 5,000 migration cases; every tenth has a finding with a line."""
    cases = []
    for i in range(CASES):
        path = f"schema/migrations/schema/{i:05d}_m.sql"
        findings = (
            [Finding("lint", "MG502", path, i % 50 + 1, "UPDATE without WHERE", "add a WHERE")]
            if i % 10 == 0
            else []
        )
        cases.append(Case(f"{i:05d} {path}", "apply_empty", 0.0123, path, None, findings))
    return [Report("apply_empty", cases[: CASES // 2]), Report("lint", cases[CASES // 2 :])]


def once(how: str, out: Path) -> tuple[float, float]:
    data = corpus()
    wall, cpu = time.perf_counter(), time.process_time()
    if how == "ours":
        reports.write_junit(data, out)
    else:
        from junit_xml import TestCase, TestSuite, to_xml_report_string

        from ci.reports.junit import _junit_case

        suites = [TestSuite(r.check, [_junit_case(TestCase, c) for c in r.cases]) for r in data]
        out.write_text(to_xml_report_string(suites, encoding="utf-8"), encoding="utf-8")
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    if len(sys.argv) == 3:  # a child: one measurement
        wall, cpu = once(sys.argv[1], Path(sys.argv[2]))
        print(wall, cpu)
        return
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "junit.xml"
        for how in ("ours", "junit-xml"):
            results = [
                tuple(
                    map(
                        float,
                        subprocess.check_output(
                            [sys.executable, __file__, how, str(out)], text=True
                        ).split(),
                    )
                )
                for _ in range(runs)
            ]
            wall = statistics.median(r[0] for r in results)
            cpu = statistics.median(r[1] for r in results)
            print(
                f"{how:10} {CASES} cases: median wall {wall:.3f} s, cpu {cpu:.3f} s ({runs} runs)"
            )


if __name__ == "__main__":
    main()
