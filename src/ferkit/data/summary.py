"""What ``ferkit data summary`` reports: counts per split and class, duplicates, leaks, near-blank faces."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ferkit.data.dataset import SPLITS, FaceDataset
from ferkit.data.duplicates import DuplicateReport, find_duplicates
from ferkit.data.ferplus import apply_ferplus
from ferkit.data.quality import NEAR_BLANK_STD, near_blank_mask
from ferkit.labels import EMOTIONS

EXAMPLES = 5  # sources listed for near-blank and skipped faces


@dataclass(frozen=True)
class SplitCounts:
    """Faces of one split: ``n`` and ``per_class`` by emotion name."""

    n: int
    per_class: dict[str, int]

    @classmethod
    def of(cls, dataset: FaceDataset) -> SplitCounts:
        return cls(len(dataset), dataset.class_counts())


def split_counts(dataset: FaceDataset) -> dict[str, SplitCounts]:
    """Counts for each of train, val and test (zeros for a split the dataset lacks)."""
    return {s: SplitCounts.of(dataset.by_split(s)) for s in SPLITS}


@dataclass(frozen=True)
class DataSummary:
    """The facts about a dataset that every report should be able to quote.

    Attributes:
        name: the dataset's name.
        splits: counts per split.
        duplicates: identical faces and leaks between splits.
        near_blank: sources of faces with grey-level std below ``NEAR_BLANK_STD``.
        skipped: files that could not be read and were left out.
        ferplus: counts per split after FER+ majority relabelling, when asked for.
        ferplus_dropped: rows FER+ gives no majority label (ties, unknown, not a face).
    """

    name: str
    splits: dict[str, SplitCounts]
    duplicates: DuplicateReport
    near_blank: list[str]
    skipped: list[str] = field(default_factory=list)
    ferplus: dict[str, SplitCounts] | None = None
    ferplus_dropped: int = 0

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "n": sum(c.n for c in self.splits.values()),
            "splits": {s: c.__dict__ for s, c in self.splits.items()},
            "duplicates": self.duplicates.to_dict(),
            "near_blank": {"n": len(self.near_blank), "criterion": f"pixel std < {NEAR_BLANK_STD:g}",
                           "sources": self.near_blank},
            "skipped": {"n": len(self.skipped), "files": self.skipped},
        }
        if self.ferplus is not None:
            out["ferplus"] = {"n": sum(c.n for c in self.ferplus.values()), "dropped": self.ferplus_dropped,
                              "splits": {s: c.__dict__ for s, c in self.ferplus.items()}}
        return out

    def to_text(self) -> str:
        d = self.duplicates
        n = sum(c.n for c in self.splits.values())
        lines = [f"{self.name}: {n:,} faces", *_table(self.splits), "",
                 f"identical faces: {d.groups:,} groups covering {d.rows:,} rows",
                 f"leaks: {d.test_in_train} test and {d.val_in_train} val faces equal a train face; "
                 f"{d.test_in_val} test faces equal a val face",
                 f"de-duplicated test (no copy in train): {d.dedup_test:,} of {self.splits['test'].n:,}",
                 f"near-blank faces (pixel std < {NEAR_BLANK_STD:g}): {len(self.near_blank)}"
                 + _examples(self.near_blank),
                 f"unreadable images skipped: {len(self.skipped)}" + _examples(self.skipped)]
        if self.ferplus is not None:
            kept = sum(c.n for c in self.ferplus.values())
            lines += ["", f"FER+ majority labels: {kept:,} faces ({self.ferplus_dropped:,} without a majority "
                          "or not a face dropped)", *_table(self.ferplus)]
        return "\n".join(lines)


def _table(splits: dict[str, SplitCounts]) -> list[str]:
    widths = [max(len(e), 6) for e in EMOTIONS]
    head = f"{'split':<6}{'n':>8}  " + " ".join(f"{e:>{w}}" for e, w in zip(EMOTIONS, widths))
    rows = [f"{s:<6}{c.n:>8}  " + " ".join(f"{c.per_class[e]:>{w}}" for e, w in zip(EMOTIONS, widths))
            for s, c in splits.items()]
    return [head, *rows]


def _examples(sources: list[str]) -> str:
    if not sources:
        return ""
    more = ", ..." if len(sources) > EXAMPLES else ""
    return f" ({', '.join(sources[:EXAMPLES])}{more})"


def summarize(dataset: FaceDataset, ferplus: str | Path | None = None) -> DataSummary:
    """Count what ``DataSummary`` holds.

    Args:
        dataset: any loaded dataset.
        ferplus: ``fer2013new.csv``, to add FER+ majority counts (FER2013 CSV datasets only).
    """
    relabelled = apply_ferplus(dataset, ferplus) if ferplus is not None else None
    return DataSummary(
        name=dataset.name,
        splits=split_counts(dataset),
        duplicates=find_duplicates(dataset),
        near_blank=[str(s) for s in dataset.source[near_blank_mask(dataset.faces)]],
        skipped=[str(s) for s in dataset.extra.get("skipped", [])],
        ferplus=None if relabelled is None else split_counts(relabelled),
        ferplus_dropped=0 if relabelled is None else len(dataset) - len(relabelled),
    )
