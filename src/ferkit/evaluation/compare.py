"""Several evaluation reports side by side (``ferkit compare``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferkit.evaluation.report import load_metrics

# (metrics.json key, column title); accuracies first, then the lower-is-better figures.
MAIN_METRICS: tuple[tuple[str, str], ...] = (
    ("accuracy", "accuracy"),
    ("accuracy_tta", "acc. flip TTA"),
    ("accuracy_dedup", "acc. de-dup"),
    ("accuracy_ferplus", "acc. FER+"),
    ("top2_accuracy", "top-2 acc."),
    ("balanced_accuracy", "balanced acc."),
    ("macro_f1", "macro F1"),
    ("macro_auroc", "macro AUROC"),
    ("loss", "loss"),
    ("ece", "ECE"),
)
LOWER_IS_BETTER = frozenset({"loss", "ece"})


def _weak(metrics: dict) -> float | None:
    wild = metrics.get("wild") or {}
    return wild.get("weak_accuracy")


@dataclass(frozen=True)
class Comparison:
    """The main metrics of several reports.

    Attributes:
        names: one short name per report (its folder's name, made unique).
        reports: each report's ``metrics.json`` content.
    """

    names: list[str]
    reports: list[dict]

    def values(self, key: str) -> list[float | None]:
        if key == "wild_weak_accuracy":
            return [_weak(m) for m in self.reports]
        return [m.get(key) for m in self.reports]

    @property
    def columns(self) -> list[tuple[str, str]]:
        """The metrics that at least one report has."""
        all_columns = [*MAIN_METRICS, ("wild_weak_accuracy", "in the wild (weak)")]
        return [(k, t) for k, t in all_columns if any(v is not None for v in self.values(k))]

    def to_text(self) -> str:
        """A table with one row per metric and one column per report; '*' marks the best value."""
        header = ["metric", *self.names]
        rows = [["model", *(m["model"]["file"] for m in self.reports)],
                ["split (n)", *(f"{m['split']} ({m['n']})" for m in self.reports)]]
        for key, title in self.columns:
            values = self.values(key)
            known = [v for v in values if v is not None]
            best = (min if key in LOWER_IS_BETTER else max)(known) if len(known) > 1 else None
            rows.append([title, *("-" if v is None else f"{v:.4f}" + ("*" if v == best else "") for v in values)])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """A grouped bar chart of the main metrics, one bar per report."""
        from ferkit.evaluation.plots import compare_figure

        higher = [(t, self.values(k)) for k, t in self.columns if k not in LOWER_IS_BETTER]
        lower = [(t, self.values(k)) for k, t in self.columns if k in LOWER_IS_BETTER]
        return compare_figure(self.names, [("higher is better", higher), ("lower is better", lower)], path)


def compare_reports(reports: list[str | Path]) -> Comparison:
    """Load the ``metrics.json`` of report folders.

    Args:
        reports: report folders (or their ``metrics.json`` files).

    Raises:
        EvaluationError: a folder without a report.
    """
    loaded = [load_metrics(r) for r in reports]
    paths = [Path(r).resolve() for r in reports]
    paths = [p.parent if p.is_file() else p for p in paths]
    names = [p.name for p in paths]
    if len(set(names)) < len(names):  # same folder names: use parent/name
        names = [f"{p.parent.name}/{p.name}" for p in paths]
    return Comparison(names, loaded)
