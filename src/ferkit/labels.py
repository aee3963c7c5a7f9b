"""The 7 emotions, their order, and every dataset's mapping onto them.

This is the only place the label list exists; ``NUM_CLASSES`` and every
mapping derive from it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ferkit.errors import FerkitError

# FER2013's native order: the class index of every model and dataset in ferkit.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)
INDEX: dict[str, int] = {name: i for i, name in enumerate(EMOTIONS)}

# FER2013 CSV `emotion` column: the ids are the indices above.
FER2013_IDS: dict[int, int] = {i: i for i in range(NUM_CLASSES)}

# FER+ `fer2013new.csv` vote columns. contempt merges into disgust;
# `unknown` and `NF` (not a face) are not emotions and are dropped.
FERPLUS_VOTE_COLUMNS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
)
FERPLUS_DROPPED_COLUMNS: tuple[str, ...] = ("unknown", "NF")

# AffectNet official `expression` ids. 8 none, 9 uncertain, 10 no-face are dropped (None).
AFFECTNET_IDS: dict[int, int | None] = {
    0: INDEX["neutral"],
    1: INDEX["happy"],
    2: INDEX["sad"],
    3: INDEX["surprise"],
    4: INDEX["fear"],
    5: INDEX["disgust"],
    6: INDEX["angry"],
    7: INDEX["disgust"],  # contempt
    8: None,
    9: None,
    10: None,
}

# Every spelling of a class name seen in FER2013/AffectNet/Kaggle folders and
# FER+ columns, lower-cased. Lookups are case-insensitive.
_ALIASES: dict[str, int] = {
    **INDEX,
    "anger": INDEX["angry"],
    "contempt": INDEX["disgust"],
    "disgusted": INDEX["disgust"],
    "fearful": INDEX["fear"],
    "happiness": INDEX["happy"],
    "sadness": INDEX["sad"],
    "surprised": INDEX["surprise"],
}


class UnknownLabelError(FerkitError, ValueError):
    """A class name or id that no mapping knows."""


def label_index(name: str) -> int:
    """Map a class name in any dataset's spelling and any case to its index.

    Raises:
        UnknownLabelError: naming the unknown class.
    """
    key = name.strip().lower()
    if key not in _ALIASES:
        raise UnknownLabelError(
            f"unknown emotion class {name!r}; known names: {', '.join(sorted(_ALIASES))}"
        )
    return _ALIASES[key]


def check_names(names: Iterable[str]) -> dict[str, int]:
    """Map several class names at once; the error lists every unknown one."""
    names = list(names)
    unknown = [n for n in names if n.strip().lower() not in _ALIASES]
    if unknown:
        raise UnknownLabelError(
            f"unknown emotion class name(s) {', '.join(repr(n) for n in unknown)}; "
            f"known names: {', '.join(sorted(_ALIASES))}"
        )
    return {n: _ALIASES[n.strip().lower()] for n in names}


def affectnet_index(expression: int) -> int | None:
    """Map an AffectNet official expression id to an index, or None for dropped ids."""
    if expression not in AFFECTNET_IDS:
        raise UnknownLabelError(f"unknown AffectNet expression id {expression} (expected 0-10)")
    return AFFECTNET_IDS[expression]
