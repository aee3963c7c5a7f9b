"""The report's figures, each written to a PNG file.

Figures are built on ``matplotlib.figure.Figure`` (Agg rendering, no pyplot), so
drawing them never changes a caller's matplotlib backend or global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ferkit.evaluation.calibration import ReliabilityBins
from ferkit.evaluation.history import CURVES, curve
from ferkit.evaluation.metrics import row_normalise

DPI = 110
TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#ff7f0e"
RIGHT_COLOUR, WRONG_COLOUR = "#2a8a2a", "#c0392b"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="white")
    return path


def _image_axis(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def confusion_figure(confusion: np.ndarray, names: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Counts and row-normalised confusion matrices side by side.

    Args:
        confusion: (C, C) counts, row = true class, column = predicted class.
        names: C class names.
        path: PNG to write.
        title: figure title.
    """
    fig = _figure(13, 5.8)
    axes = fig.subplots(1, 2)
    normalised = row_normalise(confusion)
    panels = ((confusion, "counts", "{:.0f}", max(confusion.max(), 1)),
              (normalised, "row-normalised (recall on the diagonal)", "{:.2f}", 1.0))
    for ax, (values, sub, fmt, top) in zip(axes, panels):
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=top)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if values[i, j] > 0.55 * top else "black")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(sub)
    fig.suptitle(title or "Confusion matrix", fontsize=13)
    return _save(fig, path)


def curves_figure(history: list[dict[str, float]], path: str | Path, title: str = "",
                  train_loss: str = "training") -> Path:
    """Train and validation curves of accuracy, loss, precision, recall and AUC per epoch.

    Args:
        history: one dict per epoch (``ferkit.evaluation.history.training_history``).
        path: PNG to write.
        title: figure title.
        train_loss: legend of the training loss (``history.train_loss_label``: with a teacher or
            mixed targets it is not the cross-entropy the validation curve shows).
    """
    from matplotlib.ticker import MaxNLocator

    fig = _figure(14, 7.5)
    axes = fig.subplots(2, 3).ravel()
    for ax, (key, name) in zip(axes, CURVES):
        for split, colour in (("train", TRAIN_COLOUR), ("val", VAL_COLOUR)):
            epochs, values = curve(history, f"{split}/{key}")
            if epochs:
                label = "validation" if split == "val" else train_loss if key == "loss" else "training"
                ax.plot(epochs, values, marker="o", markersize=3, color=colour, label=label)
        if ax.lines:
            ax.legend(loc="best", fontsize=9)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_title(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(name.split(" (")[0])
        ax.grid(alpha=0.3)
    _history_notes(axes[-1], history)
    fig.suptitle(title or "Training and validation curves", fontsize=13)
    return _save(fig, path)


def _history_notes(ax, history: list[dict[str, float]]) -> None:
    """The spare sixth panel: the epoch of best validation accuracy and its figures."""
    ax.axis("off")
    best = max((e for e in history if "val/acc" in e), key=lambda e: e["val/acc"], default=None)
    if best is None:
        return
    lines = [f"best validation accuracy: epoch {int(best.get('epoch', 0))}"]
    for key, name in CURVES:
        for split in ("train", "val"):
            if f"{split}/{key}" in best:
                lines.append(f"  {split:5s} {name.split(' (')[0]:9s} {best[f'{split}/{key}']:.4f}")
    ax.text(0.02, 0.98, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=9,
            transform=ax.transAxes)


def reliability_figure(before: ReliabilityBins, after: ReliabilityBins, temperature: float,
                       path: str | Path, title: str = "") -> Path:
    """Reliability diagrams before and after temperature scaling, with the share of faces per bin below.

    Args:
        before: bins of ``softmax(logits)``.
        after: bins of ``softmax(logits / temperature)``.
        temperature: the temperature applied.
        path: PNG to write.
        title: figure title.
    """
    fig = _figure(12, 6.5)
    grid = fig.add_gridspec(2, 2, height_ratios=(3, 1))
    panels = ((before, "before temperature scaling (T = 1)"),
              (after, f"after temperature scaling (T = {temperature:.3g})"))
    for col, (bins, name) in enumerate(panels):
        ax = fig.add_subplot(grid[0, col])
        counts = fig.add_subplot(grid[1, col], sharex=ax)
        left, width = bins.edges[:-1], np.diff(bins.edges)
        full = bins.count > 0
        ax.bar(left[full], bins.accuracy[full], width=width[full], align="edge", color="#4c72b0",
               edgecolor="black", linewidth=0.5, label="accuracy")
        gap_low = np.minimum(bins.accuracy[full], bins.confidence[full])
        ax.bar(left[full], np.abs(bins.confidence[full] - bins.accuracy[full]), bottom=gap_low,
               width=width[full], align="edge", color=WRONG_COLOUR, alpha=0.35, edgecolor=WRONG_COLOUR,
               hatch="//", label="gap to confidence")
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{name}\nECE {bins.ece:.4f}")
        ax.legend(loc="upper left", fontsize=9)
        ax.grid(alpha=0.3)
        share = bins.count / max(bins.count.sum(), 1)
        counts.bar(left, share, width=width, align="edge", color="grey", edgecolor="black", linewidth=0.5)
        counts.set_xlabel("confidence (top-1 probability)")
        counts.set_ylabel("share of faces")
        counts.grid(alpha=0.3)
    fig.suptitle(title or "Reliability diagram", fontsize=13)
    return _save(fig, path)


def face_grid_figure(rows: Sequence[Sequence[tuple[np.ndarray, str, str]]], row_names: Sequence[str],
                     path: str | Path, title: str = "", note_empty: str = "none", cell: int = 96) -> Path:
    """A grid of small images: one row per class, each cell captioned.

    The cells are pasted into one mosaic drawn on a single axes: one matplotlib axes
    per face made a 56-face grid take 2 s to draw.

    Args:
        rows: per row, a list of (image, caption, colour); image is (H, W) grey or (H, W, 3) BGR uint8.
        row_names: the label at the left of each row.
        path: PNG to write.
        title: figure title.
        note_empty: written in a row that has no image.
        cell: side of each cell in the mosaic, in pixels.
    """
    import cv2

    cols = max([len(r) for r in rows] + [1])
    gap, head = cell // 12, cell // 4  # space between cells, and above each for its caption
    mosaic = np.full((len(rows) * (cell + head), cols * (cell + gap), 3), 255, np.uint8)
    # Sized so that the mosaic is drawn about pixel for pixel: sharp faces that compress well.
    # At least 6 inches wide, so that the title of a grid of one or two columns is not cut off.
    fig = _figure(max(6.0, mosaic.shape[1] / DPI + 1.2), mosaic.shape[0] / DPI + 0.6)
    ax = fig.subplots()
    captions = []
    for r, cells in enumerate(rows):
        y = r * (cell + head) + head
        for c, (image, caption, colour) in enumerate(cells):
            x = c * (cell + gap)
            rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image[:, :, ::-1]
            mosaic[y:y + cell, x:x + cell] = cv2.resize(rgb, (cell, cell), interpolation=cv2.INTER_NEAREST)
            captions.append((x + cell / 2, y - 2, caption, colour))
        if not cells:
            captions.append((cell / 2, y + cell / 2, note_empty, "grey"))
    ax.imshow(mosaic, interpolation="nearest")
    for x, y, caption, colour in captions:
        ax.text(x, y, caption, ha="center", va="bottom" if caption != note_empty else "center", fontsize=8,
                color=colour)
    ax.set_yticks([r * (cell + head) + head + cell / 2 for r in range(len(rows))], row_names, fontsize=11)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.suptitle(title, fontsize=12)
    return _save(fig, path)


def photos_figure(panels: Sequence[tuple[np.ndarray, str, str, np.ndarray | None]], path: str | Path,
                  title: str = "", cols: int = 4) -> Path:
    """Photos in a grid, each above a bar chart of its best face's class probabilities.

    Args:
        panels: (BGR image, caption, caption colour, (C,) probabilities or None) per photo.
        path: PNG to write.
        title: figure title.
        cols: photos per row.
    """
    from ferkit.inference.results import COLOURS
    from ferkit.labels import EMOTIONS

    cols = max(1, min(cols, len(panels)))
    rows = max(1, -(-len(panels) // cols))
    fig = _figure(3.6 * cols, 5.2 * rows + 0.4)
    grid = fig.add_gridspec(2 * rows, cols, height_ratios=[3, 1.5] * rows)
    bar_colours = [np.array(COLOURS[name][::-1]) / 255 for name in EMOTIONS]  # BGR -> RGB in [0, 1]
    for i, (image, caption, colour, probs) in enumerate(panels):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(grid[2 * r, c])
        _image_axis(ax)
        ax.imshow(image[:, :, ::-1])
        ax.set_title(caption, fontsize=9, color=colour)
        bars = fig.add_subplot(grid[2 * r + 1, c])
        if probs is None:
            bars.axis("off")
            continue
        bars.barh(range(len(EMOTIONS)), probs, color=bar_colours, edgecolor="black", linewidth=0.4)
        bars.set_yticks(range(len(EMOTIONS)), EMOTIONS, fontsize=8)
        bars.invert_yaxis()
        bars.set_xlim(0, 1)
        bars.tick_params(axis="x", labelsize=7)
        bars.set_xlabel("probability", fontsize=8)
        bars.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=12)
    return _save(fig, path)


def compare_figure(names: Sequence[str], panels: Sequence[tuple[str, Sequence[tuple[str, Sequence[float | None]]]]],
                   path: str | Path, title: str = "") -> Path:
    """Grouped bars, one group per metric and one bar per report, in panels of comparable scale.

    Args:
        names: the reports, in bar order.
        panels: (panel title, [(metric name, one value per report; None where a report lacks it)]).
        path: PNG to write.
        title: figure title.
    """
    from matplotlib import colormaps

    panels = [(t, metrics) for t, metrics in panels if metrics]
    widths = [max(2, len(metrics)) for _, metrics in panels]
    fig = _figure(max(8.0, 0.35 * sum(widths) * max(1, len(names)) + 3), 5.4)
    axes = fig.subplots(1, len(panels), width_ratios=widths, squeeze=False)[0]
    cmap = colormaps["tab10"]
    bar = 0.8 / max(1, len(names))
    for ax, (panel_title, metrics) in zip(axes, panels):
        for k, name in enumerate(names):
            xs = [i + (k - (len(names) - 1) / 2) * bar for i in range(len(metrics))]
            shown = [(x, v[k]) for x, (_, v) in zip(xs, metrics) if v[k] is not None]
            bars = ax.bar([x for x, _ in shown], [v for _, v in shown], width=bar, color=cmap(k % 10), label=name)
            ax.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
        ax.set_xticks(range(len(metrics)), [m for m, _ in metrics], rotation=20, ha="right")
        top = max([v for _, vs in metrics for v in vs if v is not None] + [1e-6])
        ax.set_ylim(0, top * 1.2)
        ax.set_title(panel_title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("value")
    axes[0].legend(fontsize=9, loc="upper left")
    fig.suptitle(title or "Comparison of evaluation reports", fontsize=12)
    return _save(fig, path)
