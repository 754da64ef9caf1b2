"""A budget row of bench/run.py and its verdict: the measured figure against the budget, the
headroom left, and whether that headroom is too thin to hold on another machine."""

from __future__ import annotations

from dataclasses import dataclass, field

# A row with less headroom than this (its figure within 10% of the budget) passes "tight": the
# same run on another machine of the same kind has measured ratios 10-50% higher.
TIGHT_HEADROOM = 1.1

# What a budget is stated against: ours / baseline, ours / floor (both "at most"), the
# subject's own seconds ("at most") or its throughput relative to the baseline ("at least").
ON_BASELINE, ON_FLOOR, ON_SECONDS, ON_THROUGHPUT = "baseline", "floor", "seconds", "throughput"


@dataclass
class Row:
    work: str
    baseline: str
    budget: str
    limit: float | None = None  # the budget's figure, in the unit `budget_on` says
    budget_on: str = ON_BASELINE
    floor: str = ""  # the floor's command, when the row measures one
    subject_s: float | None = None
    baseline_s: float | None = None
    floor_s: float | None = None
    ratio: float | None = None  # ours / baseline (a throughput ratio for @batch)
    floor_ratio: float | None = None  # ours / floor
    floor_over_baseline: float | None = None  # floor / baseline
    headroom: float | None = None  # how far the figure is from the budget: > 1 passes
    rss_mb: float | None = None
    result: str = "n/a"
    note: str = ""
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)
    floor_samples: list[float] = field(default_factory=list)
    instructions: tuple[int, int] | None = None  # subject, baseline (--instructions)

    def budgeted_figure(self) -> float | None:
        return {
            ON_BASELINE: self.ratio,
            ON_FLOOR: self.floor_ratio,
            ON_SECONDS: self.subject_s,
            ON_THROUGHPUT: self.ratio,
        }[self.budget_on]

    def judge(self, *, also_ok: bool = True) -> None:
        """Set headroom and result from the budgeted figure; `also_ok` is False when a further
        condition of the budget (the @batch row's RSS) failed."""
        figure, limit = self.budgeted_figure(), self.limit
        if figure is None or limit is None or figure <= 0:
            return
        self.headroom = figure / limit if self.budget_on == ON_THROUGHPUT else limit / figure
        if self.headroom < 1 or not also_ok:
            self.result = "FAIL"
        elif self.headroom < TIGHT_HEADROOM:
            self.result = "PASS (tight)"
        else:
            self.result = "PASS"


@dataclass
class FloorRow:
    """A row of the floor table: ours, bench/floor.py and the baseline, measured together."""

    work: str
    baseline: str
    floor: str = ""
    floor_ratio: float | None = None  # floor / baseline
    ours_ratio: float | None = None  # ours / baseline
    above_floor: float | None = None  # ours / floor
    note: str = ""

    @classmethod
    def of(cls, row: Row) -> FloorRow:
        """The floor table's view of a budget row that measured its floor."""
        medians = (
            f"medians: ours {row.subject_s:.3f} s, floor {row.floor_s:.3f} s, "
            f"baseline {row.baseline_s:.3f} s"
            if row.subject_s and row.floor_s and row.baseline_s
            else row.note
        )
        return cls(
            row.work,
            row.baseline,
            row.floor,
            row.floor_over_baseline,
            row.ratio,
            row.floor_ratio,
            medians,
        )
