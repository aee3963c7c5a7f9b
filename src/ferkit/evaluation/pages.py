"""The report's pages: its figures, its sections, and their Markdown and self-contained HTML renderings.

Sections are built once (``report_sections``) and rendered twice, so the two
pages always say the same thing. The HTML inlines every figure as a base64 PNG:
the file opens offline, alone, in any browser.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ferkit.evaluation import plots
from ferkit.evaluation.history import train_loss_label
from ferkit.evaluation.metrics import rounded
from ferkit.evaluation.report import CAM_PER_CLASS, MISTAKES_PER_CLASS, WILD_SHOWN, Evaluation
from ferkit.labels import EMOTIONS


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def num(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


@dataclass
class Section:
    """A titled part of the report.

    Attributes:
        title: the heading.
        text: paragraphs, with Markdown ``code`` and ``**bold**`` only.
        table: (header, rows) or None.
        figure: the figure's name (``figures/<name>.png``) or None.
        caption: under the figure.
    """

    title: str
    text: list[str] = field(default_factory=list)
    table: tuple[list[str], list[list[str]]] | None = None
    figure: str | None = None
    caption: str = ""


# ---- figures -------------------------------------------------------------------------------------

def figure_jobs(ev: Evaluation) -> dict[str, Callable[[Path], Path | None]]:
    """Figure name -> function drawing it to a path; figures without data are left out."""
    jobs: dict[str, Callable[[Path], Path | None]] = {
        "confusion_matrix": lambda path: plots.confusion_figure(
            ev.metrics.confusion_matrix, EMOTIONS, path, f"Confusion matrix: {ev.split} split, {ev.metrics.n} faces"),
        "reliability": lambda path: plots.reliability_figure(
            ev.reliability(False), ev.reliability(True), ev.temperature, path,
            f"Reliability on the {ev.split} split ({ev.metrics.n} faces, 15 bins)"),
        "mistakes": partial(_mistakes_figure, ev),
        "gradcam": partial(_gradcam_figure, ev),
    }
    if ev.history:
        jobs["training_curves"] = lambda path: plots.curves_figure(
            ev.history, path, f"Training curves of {ev.model_path.name} ({len(ev.history)} epochs)",
            train_loss_label(ev.training_config))
    if ev.wild is not None:
        jobs["in_the_wild"] = partial(_wild_figure, ev)
    return jobs


def _mistakes_figure(ev: Evaluation, path: Path) -> Path:
    from ferkit.evaluation.samples import confident_mistakes

    probs = ev.probs
    rows = []
    for indices in confident_mistakes(ev.labels, probs, MISTAKES_PER_CLASS):
        rows.append([(ev.faces[i], f"as {EMOTIONS[probs[i].argmax()]} {probs[i].max():.0%}", plots.WRONG_COLOUR)
                     for i in indices])
    return plots.face_grid_figure(
        rows, [f"true\n{name}" for name in EMOTIONS], path,
        "Most confident mistakes per true class (predicted class and its probability)", note_empty="no mistakes")


def _gradcam_figure(ev: Evaluation, path: Path) -> Path:
    from ferkit.evaluation.gradcam import overlay

    probs = ev.probs
    rows, k = [], 0
    for indices in ev.examples:
        cells = []
        for i in indices:
            pred = int(probs[i].argmax())
            colour = plots.RIGHT_COLOUR if pred == ev.labels[i] else plots.WRONG_COLOUR
            cells.append((ev.faces[i], "face", "black"))
            cells.append((overlay(ev.faces[i], ev.cams[k]), f"{EMOTIONS[pred]} {probs[i, pred]:.0%}", colour))
            k += 1
        rows.append(cells)
    return plots.face_grid_figure(
        rows, list(EMOTIONS), path,
        f"Grad-CAM of the predicted class (last conv stage), {CAM_PER_CLASS} faces per true class\n"
        "red: most evidence; caption green when the prediction is right", note_empty="no faces")


def _shrink(image: np.ndarray, side: int = 400) -> np.ndarray:
    """A photo no larger than ``side`` pixels: a panel is a few inches wide, and big photos are slow to draw."""
    import cv2

    scale = side / max(image.shape[:2])
    return image if scale >= 1 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _wild_figure(ev: Evaluation, path: Path) -> Path | None:
    shown = [p for p in ev.wild.photos if p.result.image is not None][:WILD_SHOWN]
    if not shown:
        return None
    panels = []
    for photo in shown:
        weak = f"weak label: {photo.weak_label}" if photo.weak_label is not None else "no weak label"
        if not photo.result.faces:
            panels.append((_shrink(photo.result.image), f"{weak}\nno face found", "grey", None))
            continue
        colour = "black" if not photo.scored else plots.RIGHT_COLOUR if photo.correct else plots.WRONG_COLOUR
        face = photo.result.faces[0]
        panels.append((_shrink(photo.result.plot(probabilities=False)),
                       f"{weak}\npredicted: {face.label} {face.confidence:.0%}", colour, face.probs))
    acc = rounded(ev.wild.weak_accuracy)  # as in metrics.json and the tables
    title = (f"In the wild: {len(shown)} of {len(ev.wild.photos)} photos; agreement with the weak labels "
             f"{pct(acc)} over {ev.wild.scored} photos (weak labels: noisy, crowd-sourced)")
    return plots.photos_figure(panels, path, title)


# ---- sections ------------------------------------------------------------------------------------

def report_sections(ev: Evaluation, m: dict) -> list[Section]:
    """The report's sections, from the evaluation and its ``metrics.json`` content."""
    figures = m["figures"]
    return [
        _summary(ev, m),
        Section("Confusion matrix", figure=figures.get("confusion_matrix"),
                caption="Rows: true class; columns: predicted class. Right: each row divided by its total."),
        _classification_table(m),
        _curves(ev, m),
        _calibration(m),
        Section("Most confident mistakes", figure=figures.get("mistakes"),
                text=["For each true class, the faces the model got wrong with the highest confidence. In FER2013 "
                      "many of them are label noise (human agreement on FER2013 is about 65%) or faces whose "
                      "expression is ambiguous without context."]),
        Section("Where the model looks", figure=figures.get("gradcam"),
                text=["Grad-CAM (Selvaraju et al. 2017) over the last convolutional stage: the evidence for the "
                      "predicted class, upsampled to the 48x48 face. Faces are spread over the range of confidence "
                      "of the correctly classified faces of each class. The same map for any photo: "
                      "`ferkit explain IMAGE --save OUT.png`."]),
        *([_wild(ev, m)] if ev.wild is not None else []),
        _reproduce(m),
    ]


def _summary(ev: Evaluation, m: dict) -> Section:
    model, data = m["model"], m["data"]
    text = [f"Model `{model['file']}` ({model['name']}, {model['parameters']:,} parameters, SHA-256 "
            f"`{model['sha256'][:16]}...`) on the **{m['split']}** split of `{data['path']}` "
            f"({m['n']:,} faces)."]
    if ev.limit:
        text.append(f"**Quick look**: only the first {ev.limit} faces of the split (`--limit`). These numbers "
                    "are not comparable with full-split results.")
    rows = [
        ["accuracy", pct(m["accuracy"]), f"top-1 on all {m['n']:,} faces"],
        ["accuracy, flip TTA", pct(m["accuracy_tta"]), "mean of the logits of each face and its mirror image"],
    ]
    if m["accuracy_dedup"] is not None:
        rows.append(["accuracy, de-duplicated", pct(m["accuracy_dedup"]),
                     f"the {m['n_dedup']:,} faces with no pixel-identical copy in the training split"])
    if m["accuracy_ferplus"] is not None:
        rows.append(["accuracy vs FER+ labels", pct(m["accuracy_ferplus"]),
                     f"against FER+ majority votes of 10 annotators, {m['n_ferplus']:,} faces that have one"])
    rows += [
        ["top-2 accuracy", pct(m["top2_accuracy"]), "the label is one of the two most likely classes"],
        ["balanced accuracy", pct(m["balanced_accuracy"]), "mean recall over the classes"],
        ["macro F1", num(m["macro_f1"]), "mean F1 over the classes"],
        ["macro AUROC", num(m["macro_auroc"]), "mean one-vs-rest area under the ROC curve"],
        ["loss (cross-entropy)", num(m["loss"]),
         f"of the calibrated probabilities (uncalibrated {num(m['loss_uncalibrated'])})"],
        ["ECE", num(m["ece"]),
         f"expected calibration error, {m['ece_bins']} bins (uncalibrated {num(m['ece_uncalibrated'])}"
         + (f"; {num(m['ece_floor'])} for a perfectly calibrated model on these faces" if "ece_floor" in m else "")
         + ")"],
        ["temperature", num(m["temperature"], 3), m["temperature_source"]],
    ]
    if m.get("int8"):
        rows.append(["accuracy, int8 version", pct(m["int8"]["accuracy"]),
                     f"`{m['int8']['file']}` (`--int8`) on the same faces: same top-1 class on "
                     f"{pct(m['int8']['same_top1'])}, ECE {num(m['int8']['ece'])}"])
    if m["wild"] is not None and m["wild"]["weak_accuracy"] is not None:
        rows.append(["in the wild (weak)", pct(m["wild"]["weak_accuracy"]),
                     f"agreement with noisy weak labels on {m['wild']['weakly_labelled_scored']} photos"])
    return Section("Summary", text=text, table=(["metric", "value", "meaning"], rows))


def _classification_table(m: dict) -> Section:
    rows = []
    for name, c in m["per_class"].items():
        rows.append([name, num(c["precision"], 3), num(c["recall"], 3), num(c["f1"], 3), f"{c['support']:,}",
                     num(c["auroc"], 3)])
    per = list(m["per_class"].values())
    total = sum(c["support"] for c in per)
    weighted = {k: sum(c[k] * c["support"] for c in per) / total for k in ("precision", "recall", "f1")}
    rows.append(["**macro average**", num(np.mean([c["precision"] for c in per]), 3), num(m["balanced_accuracy"], 3),
                 num(m["macro_f1"], 3), f"{total:,}", num(m["macro_auroc"], 3)])
    rows.append(["**weighted average**", num(weighted["precision"], 3), num(weighted["recall"], 3),
                 num(weighted["f1"], 3), f"{total:,}", ""])
    return Section("Classification report", table=(["class", "precision", "recall", "F1", "support", "AUROC"], rows),
                   text=["One-vs-rest per class. AUROC uses the calibrated probability of the class; it is n/a for a "
                         "class with no faces in the evaluated set."])


def _curves(ev: Evaluation, m: dict) -> Section:
    if not ev.history:
        return Section("Training curves", text=["Not available: the checkpoint holds no training history and its "
                                                "run folder (with `logs/metrics.csv`) is not here."])
    source = "the checkpoint" if ev.history_source == "checkpoint" else f"`{ev.history_source}`"
    return Section("Training curves", figure=m["figures"].get("training_curves"),
                   text=[f"Per-epoch training and validation figures, read from {source}. Training figures are "
                         "measured on augmented faces while the weights change; validation on clean faces at the "
                         "epoch's end."])


def _calibration(m: dict) -> Section:
    return Section("Calibration", figure=m["figures"].get("reliability"),
                   text=[f"Temperature scaling divides the logits by T = {num(m['temperature'], 3)} "
                         f"({m['temperature_source']}). ECE {num(m['ece_uncalibrated'])} before, "
                         f"{num(m['ece'])} after; cross-entropy {num(m['loss_uncalibrated'])} before, "
                         f"{num(m['loss'])} after. Bars below the diagonal: over-confident."
                         + (f" Even a model whose probabilities were exactly right would show ECE "
                            f"{num(m['ece_floor'])} on average on these {m['n']:,} faces, by chance: how low ECE "
                            "can go here." if "ece_floor" in m else "")])


def _wild(ev: Evaluation, m: dict) -> Section:
    w = m["wild"]
    unmapped = ", ".join(f"{k} ({v})" for k, v in sorted(w["unmapped_weak_labels"].items())) or "none"
    rows = [
        ["photos", f"{w['photos']}", f"{w['unreadable']} more could not be decoded" if w["unreadable"] else ""],
        ["photos with a face found", f"{w['photos_with_face']}", f"{w['faces']} faces in all"],
        ["photos scored against a weak label", f"{w['weakly_labelled_scored']}",
         f"weak labels that map to no class, skipped: {unmapped}" if w["has_weak_labels"] else "no legend.csv"],
        ["agreement with the weak labels", pct(w["weak_accuracy"]), "best face of each photo; **weak** labels"],
    ]
    return Section(
        "In the wild", figure=m["figures"].get("in_the_wild"), table=(["", "value", "note"], rows),
        text=[f"Detection, crop and classification on real photos from `{w['source']}`, each face "
              "drawn with its predicted label and the probabilities of the 7 classes. The photos' labels are "
              "crowd-sourced and noisy ('contempt' counts as disgust): the agreement is a weak check of the "
              "pipeline, not an accuracy."])


def _reproduce(m: dict) -> Section:
    command = m["command"] or "the Python API (ferkit.evaluation.evaluate)"
    return Section("Reproduce", text=[
        f"Written by ferkit {m['ferkit_version']} on {m['created']} in {m['seconds']:.0f} s with `{command}`. "
        f"Model SHA-256: `{m['model']['sha256']}`. Every number above is in `metrics.json`."])


# ---- rendering -----------------------------------------------------------------------------------

def render_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for paragraph in s.text:
            out += [paragraph, ""]
        if s.table is not None:
            header, rows = s.table
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
            out.append("")
        if s.figure:
            out += [f"![{s.title}]({s.figure})", ""]
            if s.caption:
                out += [f"*{s.caption}*", ""]
    return "\n".join(out)


_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1150px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: left; }
th { background: #f3f3f3; }
td:nth-child(n+2) { font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-style: italic; }
code { background: #f4f4f4; padding: 0 .25em; border-radius: 3px; font-size: .92em; word-break: break-all; }
"""


def _inline(text: str) -> str:
    """Escaped HTML of a paragraph with Markdown ``code`` and ``**bold**``."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)


def render_html(title: str, sections: list[Section], root: Path) -> str:
    """One HTML file with every figure under ``root`` inlined as base64."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        out += [f"<p>{_inline(p)}</p>" for p in s.text]
        if s.table is not None:
            header, rows = s.table
            out.append("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>")
            out.append("<tbody>" + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                                           for row in rows) + "</tbody></table>")
        if s.figure:
            data = base64.b64encode((root / s.figure).read_bytes()).decode("ascii")
            out.append(f'<figure><img alt="{html.escape(s.title)}" src="data:image/png;base64,{data}">')
            out.append(f"<figcaption>{_inline(s.caption)}</figcaption></figure>" if s.caption else "</figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
