"""The model card (``docs/MODEL_CARD.md``), written from an evaluation report's ``metrics.json``.

Every number in the card is read from ``metrics.json``; the card names the
command that wrote it, so regenerating both is one command (Mitchell et al.
2019, "Model Cards for Model Reporting", for the sections).
"""

from __future__ import annotations

import os
from pathlib import Path

from ferkit.config import parse_fold
from ferkit.evaluation.pages import num, pct
from ferkit.evaluation.report import METRICS_FILE, load_metrics

DEFAULT_CARD = Path("docs") / "MODEL_CARD.md"

_LABEL_SOURCES = {
    "fer2013": "the original FER2013 labels (one annotator per face)",
    "ferplus": "FER+ majority labels (10 annotators per face; faces without a majority dropped)",
    "ferplus_soft": "FER+ vote distributions as soft targets (10 annotators per face)",
}


def _link(target: Path, card: Path) -> str:
    return Path(os.path.relpath(target.resolve(), card.resolve().parent)).as_posix()


def _training(m: dict) -> list[str]:
    t = m.get("training") or {}
    config = t.get("config") or {}
    lines = []
    if config:
        lines.append(f"- **Training data**: `{config.get('data', '?')}`, training split, with "
                     f"{_LABEL_SOURCES.get(config.get('labels', ''), config.get('labels', '?'))}"
                     + (f" blended with FER+ vote distributions at weight {config['ferplus_weight']:g} "
                        "(`ferplus_weight`)" if config.get("ferplus_weight") else "")
                     + (f", mixed with AffectNet (`{config['affectnet']}`)" if config.get("affectnet") else "") + ".")
        if config.get("train_limit"):
            lines.append(f"- Only the first {config['train_limit']} training faces were used (`train_limit`).")
        if config.get("holdout_fold"):
            k, n = parse_fold(config["holdout_fold"], "holdout_fold")
            lines.append(f"- Fold {k} of {n} of the training faces was held out (`holdout_fold`): a teacher whose "
                         "outputs on that fold are out of sample.")
        lines.append(
            f"- **Recipe**: {config.get('epochs', '?')} epochs max, batch {config.get('batch_size', '?')}, "
            f"{config.get('optimizer', '?')} (lr {config.get('lr', '?')}, "
            f"weight decay {config.get('weight_decay', '?')}), "
            f"warm-up then cosine, label smoothing {config.get('label_smoothing', 0)}, "
            f"augmentation: {'horizontal flip, ' if config.get('flip') else ''}shift {config.get('shift')}, "
            f"rotation {config.get('rotation')} deg, zoom {config.get('zoom')}; "
            f"SWA {'on' if config.get('swa') else 'off'}; "
            f"early stopping patience {config.get('early_stopping_patience', '?')}.")
        if config.get("init"):
            lines.append(f"- **Started from**: the weights of {config['init']} (fine-tuned, `init`).")
        key = "teacher" if config.get("teacher") else "teacher_outputs"
        if config.get(key):
            mode = config.get("distill_mode", "online") if key == "teacher" else "online"
            lines.append(f"- **Distilled from**: {config[key]} (`{key}`; weight "
                         f"{config.get('distill_weight', '?')}, temperature {config.get('distill_temperature', '?')}"
                         + ("" if mode == "online" else f", {mode}") + ").")
    if t.get("soup"):
        n, alone = len(t["soup"]), t.get("val_accuracy_ingredients") or []
        seeds = [s for s in t.get("soup_seeds") or [] if s is not None]
        lines.append(f"- **Averaged** (`ferkit soup`): the weights of {n} models"
                     + (f" trained with this recipe (seeds {', '.join(map(str, seeds))})" if config else "")
                     + (f"; BatchNorm measured again on {t['batchnorm_faces']} training faces"
                        if t.get("batchnorm_faces") else "; their BatchNorm statistics averaged too")
                     + ", the temperature fitted again on the validation split (validation accuracy "
                     + pct(t.get("val_accuracy"))
                     + (f"; the models alone {pct(min(alone))}-{pct(max(alone))}" if alone else "") + ").")
    if "epochs_run" in t:
        selected = t.get("selected", "?")
        val = (t.get("val_accuracy") or {}).get(selected)
        lines.append(f"- **Selection**: {t['epochs_run']} epochs trained; the `{selected}` weights were kept "
                     f"(validation accuracy {pct(val)}), selected on the validation split (FER2013 PublicTest).")
    if not lines:
        lines.append("- The checkpoint records no training configuration (its run folder was not available).")
    return lines


def model_card_text(metrics: dict, report_dir: Path, card: Path) -> str:
    """The card's Markdown.

    Args:
        metrics: a report's ``metrics.json`` content.
        report_dir: the report folder (the card links to its figures and pages).
        card: where the card will be written (links are relative to it).
    """
    m = metrics
    model, data, w = m["model"], m["data"], m.get("wild")
    arch = model.get("architecture", {})
    figures = m.get("figures", {})

    def fig(name: str, alt: str) -> str:
        return f"![{alt}]({_link(report_dir / figures[name], card)})" if name in figures else ""

    present = [(name, c) for name, c in m["per_class"].items() if c["support"]]
    worst = min(present, key=lambda kv: kv[1]["recall"])
    best = max(present, key=lambda kv: kv[1]["recall"])
    command = m.get("command") or "ferkit evaluate"
    limited = f" **Only the first {data['limit']} faces (`--limit`): not a result.**" if data.get("limit") else ""

    rows = [
        ("accuracy", pct(m["accuracy"]), f"{m['split']} split, {m['n']:,} faces"),
        ("accuracy, flip TTA", pct(m["accuracy_tta"]), "each face averaged with its mirror image"),
        ("accuracy, de-duplicated", pct(m.get("accuracy_dedup")),
         f"{m.get('n_dedup') or 0:,} faces with no pixel-identical copy in training"),
        ("accuracy vs FER+ majority labels", pct(m.get("accuracy_ferplus")),
         f"{m.get('n_ferplus') or 0:,} faces with a FER+ majority" if m.get("n_ferplus") else "FER+ not given"),
        ("top-2 accuracy", pct(m["top2_accuracy"]), ""),
        ("balanced accuracy (mean recall)", pct(m["balanced_accuracy"]), ""),
        ("macro F1", num(m["macro_f1"]), ""),
        ("macro AUROC", num(m["macro_auroc"]), "one-vs-rest"),
        ("cross-entropy", num(m["loss"]), f"uncalibrated {num(m['loss_uncalibrated'])}"),
        ("ECE (15 bins)", num(m["ece"]), f"uncalibrated {num(m['ece_uncalibrated'])}"
         + (f"; a perfectly calibrated model would show {num(m['ece_floor'])} on these faces by chance"
            if "ece_floor" in m else "")),
        ("temperature", num(m["temperature"], 3), m["temperature_source"]),
    ]
    if m.get("int8"):
        i = m["int8"]
        rows.append(("accuracy, int8 version", pct(i["accuracy"]),
                     f"`{i['file']}` (`--int8`): same top-1 class as this model on {pct(i['same_top1'])} "
                     f"of the faces; ECE {num(i['ece'])}, cross-entropy {num(i['loss'])}"))
    if w and w.get("weak_accuracy") is not None:
        rows.append(("agreement with weak labels, real photos", pct(w["weak_accuracy"]),
                     f"{w['weakly_labelled_scored']} photos, noisy crowd-sourced labels"))
    per_class = [f"| {name} | {num(c['precision'], 3)} | {num(c['recall'], 3)} | {num(c['f1'], 3)} | "
                 f"{c['support']:,} | {num(c['auroc'], 3)} |" for name, c in m["per_class"].items()]

    lines = [
        f"# Model card: `{model['file']}`",
        "",
        f"*Generated on {m['created']} by `{command}` from "
        f"[`{METRICS_FILE}`]({_link(report_dir / METRICS_FILE, card)}) "
        f"(full report: [report.html]({_link(report_dir / 'report.html', card)}), "
        f"[report.md]({_link(report_dir / 'report.md', card)})). Every number below comes from that file: "
        "rerun the command rather than editing it.*",
        "",
        "## Model details",
        "",
        f"- **Task**: facial expression recognition: one of {len(model['labels'])} classes "
        f"({', '.join(model['labels'])}) for a face.",
        f"- **Architecture**: `{model['name']}`, a residual CNN of the ResNet-Swish family (SiLU activations, "
        f"BatchNorm, spatial dropout, global average pooling, dense head); stages of widths "
        f"{arch.get('widths', '?')} and depths {arch.get('depths', '?')}; {model['parameters']:,} parameters.",
        f"- **Input**: a {model['input_size'][0]}x{model['input_size'][1]} grey face crop, pixels scaled to [0, 1] "
        f"then normalised with mean {model.get('normalization', {}).get('mean', '?')} and std "
        f"{model.get('normalization', {}).get('std', '?')}. In `ferkit predict` the crop is the square around "
        "the face detector's box (`ferkit.inference.crop`).",
        "- **Output**: probabilities of the classes, calibrated by temperature scaling "
        f"(T = {num(m['temperature'], 3)}).",
        f"- **File**: `{model['file']}`, SHA-256 `{model['sha256']}`, written by ferkit {model['written_by_ferkit']}.",
        *_training(m),
        "",
        "## Intended use",
        "",
        "- Research, teaching and prototyping: studying facial expression recognition, comparing training "
        "recipes, demonstrating an offline CPU pipeline.",
        "- Aggregate, consented analysis where an error on one face has no consequence for that person "
        "(e.g. the share of smiles in a user study whose participants agreed to it).",
        "- The model recognises the *appearance* of a prototypical facial expression. It does not measure "
        "what a person feels: the same expression accompanies different feelings, and feelings often show no "
        "expression.",
        "",
        "## Out of scope",
        "",
        "- Decisions about individuals: hiring, education, credit, insurance, policing, border control, "
        "lie or deception detection, medical or mental-health diagnosis.",
        "- Surveillance, or any use on people who have not agreed to it.",
        "- Faces far from its training data: children, profile views, strong occlusion, very low light.",
        "",
        "## Evaluation",
        "",
        f"Data: the **{m['split']}** split of `{data['path']}` ({m['n']:,} faces)"
        + (f", relabelled with FER+ (`{data['ferplus']}`) for the FER+ row" if data.get("ferplus") else "")
        + (f"; real photos from `{w['source']}`" if w else "") + "." + limited,
        "",
        "| metric | value | note |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        "| class | precision | recall | F1 | support | AUROC |",
        "|---|---|---|---|---|---|",
        *per_class,
        "",
        fig("confusion_matrix", "Confusion matrix"),
        "",
        fig("reliability", "Reliability before and after temperature scaling"),
        "",
        fig("training_curves", "Training curves"),
        "",
        "## Known limitations",
        "",
        f"- **Label noise.** FER2013 labels come from one annotator per face; Goodfellow et al. (2013) measured "
        f"human accuracy on it at about 65%, so test accuracy is capped well below 100% and part of the "
        f"'errors' are label errors (see the most confident mistakes in the report). Against the cleaner FER+ "
        f"majority labels the model scores {pct(m.get('accuracy_ferplus'))}.",
        *([f"- **Duplicates.** {m['n'] - m['n_dedup']:,} of the {m['n']:,} evaluated faces have a pixel-identical "
           f"copy in the training split; on the others the accuracy is {pct(m.get('accuracy_dedup'))}."]
          if m.get("n_dedup") is not None else []),
        f"- **Unequal classes.** Recall ranges from {pct(worst[1]['recall'])} ({worst[0]}) to "
        f"{pct(best[1]['recall'])} ({best[0]}); disgust is by far the rarest class of FER2013's training faces.",
        "- **Demographic skew.** FER2013 was gathered by web image search with English keywords; such "
        "collections skew towards adults and lighter skin tones, with few children, older people and darker "
        "skin tones. The dataset has no demographic labels, so accuracy per group is unmeasured here and may be "
        "markedly lower for under-represented groups.",
        "- **Posed versus spontaneous faces.** Web images are often posed or exaggerated expressions. Everyday, "
        "spontaneous expressions are subtler and culturally varied; expect lower accuracy on them"
        + (f" (the agreement with weak labels on real photos is {pct(w['weak_accuracy'])})."
           if w and w.get("weak_accuracy") is not None else "."),
        "- **Input.** 48x48 grey faces: colour and fine detail are lost; profile views, occlusions (masks, "
        "hands, glasses), extreme lighting and faces the detector misses degrade or prevent recognition.",
        "- **Categories.** Seven basic-emotion categories are a simplification; contempt is merged into "
        "disgust, and mixed or neutral-leaning expressions are forced into one class.",
        "- **Calibration** was fitted and measured on FER2013; probabilities on other data are less reliable.",
        "",
        "## Reproduce",
        "",
        "```",
        command,
        "```",
        "",
    ]
    # A missing figure leaves an empty line: keep no two blank lines in a row.
    return "\n".join(line for line, prev in zip(lines, ["", *lines]) if line or prev)


def write_model_card(report: str | Path, card: str | Path = DEFAULT_CARD) -> Path:
    """Write the model card of a report folder.

    Args:
        report: the report folder (with ``metrics.json`` and its figures).
        card: the Markdown file to write.

    Raises:
        EvaluationError: no report there.
    """
    report, card = Path(report), Path(card)
    text = model_card_text(load_metrics(report), report, card)
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text(text)
    return card
