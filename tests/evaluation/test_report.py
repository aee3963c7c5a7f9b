"""evaluate() and write_report() in-process on the generated dataset, photos and checkpoints."""

import json
import re

import numpy as np
import pytest

from ferkit.data import load_dataset
from ferkit.evaluation.logits import face_logits
from ferkit.evaluation.model_card import write_model_card
from ferkit.evaluation.report import EvaluationError, evaluate, load_metrics, write_report
from ferkit.training.checkpoint import load_checkpoint

N_TEST, N_LEAKED, N_TRAIN, N_VAL = 42, 4, 70, 35
FIGURES = {"confusion_matrix", "training_curves", "reliability", "mistakes", "gradcam", "in_the_wild"}


@pytest.fixture(scope="module")
def evaluation(checkpoint, fer_csv, ferplus_csv, photos):
    return evaluate(checkpoint, fer_csv, ferplus=ferplus_csv, photos=photos, command="test")


@pytest.fixture(scope="module")
def report(evaluation, tmp_path_factory):
    return write_report(evaluation, tmp_path_factory.mktemp("report") / "out")


def test_figures_agree_with_the_model_run_by_hand(evaluation, checkpoint, fer_csv, ferplus_majority):
    ckpt = load_checkpoint(checkpoint)
    test = load_dataset(fer_csv).by_split("test")
    logits = face_logits(ckpt.build_model(), test.faces, ckpt.normalization)
    pred = logits.argmax(1).numpy()
    m = evaluation.to_dict()
    assert m["n"] == N_TEST and m["split"] == "test"
    assert m["accuracy"] == pytest.approx((pred == test.labels).mean(), abs=1e-5)
    # the leaked faces are the first test faces
    assert m["n_dedup"] == N_TEST - N_LEAKED
    assert m["accuracy_dedup"] == pytest.approx((pred == test.labels)[N_LEAKED:].mean(), abs=1e-5)
    # FER+: rows without a majority are left out, the others scored against the FER+ label
    rows = range(N_TRAIN + N_VAL, N_TRAIN + N_VAL + N_TEST)
    ferplus = np.array([-1 if ferplus_majority(r) is None else ferplus_majority(r) for r in rows])
    assert m["n_ferplus"] == (ferplus >= 0).sum()
    assert m["accuracy_ferplus"] == pytest.approx((pred == ferplus)[ferplus >= 0].mean(), abs=1e-5)
    tta = face_logits(ckpt.build_model(), test.faces, ckpt.normalization, tta=True)
    assert m["accuracy_tta"] == pytest.approx((tta.argmax(1).numpy() == test.labels).mean(), abs=1e-5)
    assert m["temperature"] == pytest.approx(1.5) and m["temperature_source"].startswith("checkpoint")
    assert np.array(m["confusion_matrix"]).sum() == N_TEST
    assert m["model"]["sha256"] and len(m["model"]["sha256"]) == 64
    assert m["training"]["history_source"] == "checkpoint" and m["training"]["epochs_logged"] == 4


def test_metrics_json_has_the_issue_fields(report):
    m = json.loads((report / "metrics.json").read_text())
    for key in ("accuracy", "accuracy_tta", "accuracy_dedup", "accuracy_ferplus", "loss", "top2_accuracy", "ece",
                "ece_uncalibrated", "temperature", "per_class", "confusion_matrix", "n", "split"):
        assert key in m, key
    assert m["ece_bins"] == 15
    assert set(m["per_class"]["happy"]) == {"precision", "recall", "f1", "support", "auroc"}
    assert m["model"]["name"] == "resnet_swish_xs" and m["model"]["file"] == "tiny.pt"
    assert m["wild"]["photos"] == 5 and m["wild"]["unmapped_weak_labels"] == {"confused": 1}
    assert set(m["figures"]) == FIGURES
    assert load_metrics(report) == m


def test_report_pages_show_every_figure(report):
    for name in FIGURES:
        png = (report / "figures" / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, name
    md = (report / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(linked) == sorted(f"figures/{n}.png" for n in FIGURES)
    for heading in ("Confusion matrix", "Classification report", "Training curves", "Calibration",
                    "Most confident mistakes", "Where the model looks", "In the wild"):
        assert f"## {heading}" in md
    assert "weak" in md.split("## In the wild")[1]
    html = (report / "report.html").read_text()
    # self-contained: every figure inlined, nothing fetched
    assert html.count('src="data:image/png;base64,') == len(FIGURES)
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "<table>" in html and "happy" in html


def test_model_card_numbers_come_from_metrics_json(report, tmp_path):
    card = write_model_card(report, tmp_path / "docs" / "MODEL_CARD.md")
    text = card.read_text()
    m = load_metrics(report)
    assert f"{100 * m['accuracy']:.2f}%" in text and f"{100 * m['accuracy_dedup']:.2f}%" in text
    assert m["model"]["sha256"] in text
    for topic in ("Intended use", "Out of scope", "Known limitations", "Label noise", "Demographic skew",
                  "Posed versus spontaneous"):
        assert topic in text
    for target in re.findall(r"\]\(([^)]+)\)", text):  # every link resolves from the card's folder
        assert (card.parent / target).is_file(), target


def test_limit_and_an_uncalibrated_model(uncalibrated_checkpoint, fer_csv):
    ev = evaluate(uncalibrated_checkpoint, fer_csv, limit=10)
    m = ev.to_dict()
    assert m["n"] == 10 and m["data"]["limit"] == 10
    # T = 1 in the checkpoint: fitted here on val, which lowers the val NLL
    assert m["temperature_source"].startswith("fitted here") and m["temperature"] != 1.0
    assert m["accuracy_ferplus"] is None and m["wild"] is None
    assert m["training"]["history_source"].endswith("metrics.csv")


def test_val_split_and_errors(checkpoint, fer_csv, tmp_path):
    ev = evaluate(checkpoint, fer_csv, split="val", limit=7)
    assert ev.metrics.n == 7 and ev.dedup is not None
    only_train = tmp_path / "train_only.csv"
    only_train.write_text("\n".join(fer_csv.read_text().splitlines()[:6]) + "\n")
    with pytest.raises(EvaluationError, match="no test faces"):
        evaluate(checkpoint, only_train)
    with pytest.raises(EvaluationError, match="unknown split"):
        evaluate(checkpoint, fer_csv, split="dev")
    with pytest.raises(EvaluationError, match="no metrics.json"):
        load_metrics(tmp_path)


def test_probabilities_are_calibrated_ones(evaluation):
    expected = (evaluation.logits / 1.5).softmax(1).numpy()
    np.testing.assert_allclose(evaluation.probs, expected, rtol=1e-5)
    assert evaluation.cams.shape == (sum(len(e) for e in evaluation.examples), 48, 48)


def test_the_shipped_int8_model_is_measured_beside_the_shipped_model(evaluation, fer_csv, tmp_path):
    from ferkit.assets import DEFAULT_INT8_MODEL
    from ferkit.inference.backends import OnnxBackend

    assert evaluation.int8 is None  # a checkpoint the shipped int8 file was not made from
    ev = evaluate(None, fer_csv, limit=40)
    i = ev.to_dict()["int8"]
    int8 = OnnxBackend(DEFAULT_INT8_MODEL)(ev.faces)
    assert i["file"] == "default_model.int8.onnx"
    assert i["accuracy"] == pytest.approx(float((int8.argmax(1) == ev.labels).mean()), abs=1e-5)
    assert i["same_top1"] == pytest.approx(float((int8.argmax(1) == ev.probs.argmax(1)).mean()), abs=1e-5)
    assert 0 <= i["ece"] <= 1 and i["loss"] > 0


def test_training_config_is_read_from_the_checkpoint_without_its_run_folder(checkpoint, fer_csv, tmp_path):
    from ferkit.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    ckpt.metrics = {**ckpt.metrics, "config": {"data": "elsewhere/fer2013.csv", "epochs": 3, "labels": "fer2013"}}
    ckpt.run_dir = str(tmp_path / "gone")
    m = evaluate(ckpt.save(tmp_path / "with_config.pt"), fer_csv, limit=10).to_dict()
    assert m["training"]["config"] == {"data": "elsewhere/fer2013.csv", "epochs": 3, "labels": "fer2013"}


def test_model_card_names_the_starting_weights_and_the_teacher(tmp_path):
    from ferkit.evaluation.model_card import _training

    config = {"data": "d.csv", "labels": "fer2013", "epochs": 30, "init": "old.pt", "teacher": "big.pt",
              "distill_weight": 0.5, "distill_temperature": 2.0}
    lines = "\n".join(_training({"training": {"config": config}}))
    assert "**Started from**: the weights of old.pt (fine-tuned, `init`)." in lines
    assert "**Distilled from**: big.pt (`teacher`; weight 0.5, temperature 2.0)." in lines
    assert "Started from" not in "\n".join(_training({"training": {"config": {"data": "d.csv", "epochs": 3}}}))
    # A student of cross-fitted teachers, and a teacher trained without a fold.
    lines = "\n".join(_training({"training": {"config": {**config, "init": "", "distill_mode": "crossfit"}}}))
    assert "**Distilled from**: big.pt (`teacher`; weight 0.5, temperature 2.0, crossfit)." in lines
    config = {"data": "d.csv", "holdout_fold": "1/2", "teacher_outputs": "outputs.pt", "distill_weight": 0.5,
              "distill_temperature": 4.0}
    lines = "\n".join(_training({"training": {"config": config}}))
    assert "Fold 1 of 2 of the training faces was held out (`holdout_fold`)" in lines
    assert "**Distilled from**: outputs.pt (`teacher_outputs`; weight 0.5, temperature 4.0)." in lines


def test_model_card_says_the_labels_were_blended_with_fer_plus_votes():
    from ferkit.evaluation.model_card import _training

    config = {"data": "d.csv", "labels": "fer2013", "epochs": 12, "ferplus_weight": 0.3}
    lines = "\n".join(_training({"training": {"config": config}}))
    assert ("- **Training data**: `d.csv`, training split, with the original FER2013 labels (one annotator per face) "
            "blended with FER+ vote distributions at weight 0.3 (`ferplus_weight`).") in lines
    lines = "\n".join(_training({"training": {"config": {**config, "ferplus_weight": 0.0}}}))
    assert "blended" not in lines


def test_model_card_says_a_soup_was_averaged_and_from_what():
    from ferkit.evaluation.model_card import _training

    training = {"config": {"data": "d.csv", "epochs": 12, "init": "default"}, "soup": ["a.pt", "b.pt", "c.pt"],
                "soup_seeds": [0, 1, 2], "val_accuracy": 0.7161, "val_accuracy_ingredients": [0.708, 0.7105, 0.709],
                "batchnorm_faces": 28709}
    lines = "\n".join(_training({"training": training}))
    assert ("- **Averaged** (`ferkit soup`): the weights of 3 models trained with this recipe (seeds 0, 1, 2); "
            "BatchNorm measured again on 28709 training faces, the temperature fitted again on the validation split "
            "(validation accuracy 71.61%; the models alone 70.80%-71.05%).") in lines
    assert "**Started from**: the weights of default" in lines
    # Ingredients without a shared recipe: the card does not claim one.
    lines = "\n".join(_training({"training": {**training, "config": None}}))
    assert "the weights of 3 models;" in lines and "Recipe" not in lines
    lines = "\n".join(_training({"training": {**training, "batchnorm_faces": 0}}))  # ferkit soup --batchnorm average
    assert "(seeds 0, 1, 2); their BatchNorm statistics averaged too, the temperature fitted again" in lines
