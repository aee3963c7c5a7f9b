"""Whole training runs on a slice of FER2013: API, CLI, resume after a kill, and DDP on 2 CPU processes."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ferkit.config import ConfigError, TrainConfig, load_config
from ferkit.data import load_dataset
from ferkit.data.ferplus import NO_LABEL, majority_labels
from ferkit.evaluation.calibration import fit_temperature
from ferkit.evaluation.logits import face_logits
from ferkit.training.checkpoint import load_checkpoint
from ferkit.training import module as module_mod
from ferkit.training.finalize import read_history, swa_outcome
from ferkit.training.module import TEACHER_CACHE, FaceDataModule
from ferkit.training.run import load_training_data, train

REPO = Path(__file__).resolve().parents[2]
# PublicTest faces to which FER+ gives a majority label (../shared/data/ferplus/fer2013new.csv)
PUBLIC_TEST_WITH_FERPLUS_MAJORITY = 3400
SMOKE = REPO / "configs" / "smoke.yaml"
# A run of a few seconds: the tiny model on a slice of FER2013's training split.
TINY = ["model=resnet_swish_xs", "epochs=2", "train_limit=384", "val_limit=256", "batch_size=128",
        "warmup_epochs=0.5", "swa_epoch_start=0.5", "progress=false", "threads=1"]


def cli(*args, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "ferkit", "train", *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def epochs_logged(run_dir):
    return [row["epoch"] for row in read_history(run_dir) if "train/acc" in row]


def test_train_api_writes_a_complete_run(fer2013_csv, tmp_path):
    config = load_config(SMOKE, [*TINY, f"data={fer2013_csv}", f"out_dir={tmp_path}"])
    result = train(config)
    run = result.run_dir
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "checkpoints" / "best.ckpt").is_file()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["selected"] in ("swa", "best")
    assert set(summary["val_accuracy"]) == {"swa", "best"} and summary["swa"] == "averaged"
    test = summary["test"]
    assert test["n"] == 3589 and 0 < test["accuracy"] < 1 and test["n_dedup"] == 3301
    assert test["nll"] <= test["nll_uncalibrated"] + 0.05  # temperature fitted on val, applied on test
    assert 0 < test["ece_floor"] < 0.05  # what chance alone gives a calibrated model on 3,589 faces
    header = (run / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    for name in ("acc", "loss", "precision", "recall", "auroc"):
        assert f"train/{name}" in header and f"val/{name}" in header
    ckpt = load_checkpoint(result.model_path)
    assert ckpt.temperature == pytest.approx(summary["temperature"], abs=1e-3)
    assert ckpt.metrics["history"][0]["epoch"] == 0 and "val/acc" in ckpt.metrics["history"][0]
    assert ckpt.metrics["config"] == yaml.safe_load((run / "config.yaml").read_text())  # travels with the weights
    assert ckpt.build_model()(torch.zeros(1, 1, 48, 48)).shape == (1, 7)

    with pytest.raises(ConfigError, match="already holds a run"):
        train(config)


def test_fixed_temperature_option(fer2013_csv, tmp_path):
    config = load_config(SMOKE, [*TINY, "epochs=1", "swa=false", "temperature=0.7", f"data={fer2013_csv}",
                                 f"out_dir={tmp_path}"])
    result = train(config)
    assert result.summary["temperature"] == 0.7 and result.summary["temperature_source"] == "fixed"
    assert load_checkpoint(result.model_path).temperature == pytest.approx(0.7)


def test_distillation_with_mixing_and_erasing(fer2013_csv, tmp_path):
    config = load_config(SMOKE, [*TINY, "epochs=1", "swa=false", "teacher=default,default", "mixup=0.2", "cutmix=1.0",
                                 "erasing=0.5", f"data={fer2013_csv}", f"out_dir={tmp_path}"])
    result = train(config)
    history = read_history(result.run_dir)
    assert history[0]["train/distill_loss"] > 0
    ckpt = load_checkpoint(result.model_path)  # the student alone: no teacher weights travel with it
    assert ckpt.arch == "resnet_swish_xs" and not any("teacher" in k for k in ckpt.state_dict)
    with pytest.raises(ConfigError, match="teacher: .*nope.pt: no such checkpoint file"):
        load_config(SMOKE, [f"data={fer2013_csv}", "teacher=nope.pt"])


def test_fer_plus_runs_select_and_calibrate_on_fer_plus_labels(fer2013_csv, ferplus_csv, tmp_path):
    out, _ = cli(SMOKE, *TINY, "epochs=1", "swa=false", "labels=ferplus_soft", f"ferplus={ferplus_csv}",
                 f"data={fer2013_csv}", f"out_dir={tmp_path}", "name=f").communicate(timeout=300)
    assert "on FER+'s PublicTest labels)" in out and "on test (FER2013 PrivateTest)" in out, out
    assert "on test (FER2013 PrivateTest, FER+ majority labels)" in out, out
    summary = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert summary["val_labels"] == "ferplus" and summary["val_n"] == PUBLIC_TEST_WITH_FERPLUS_MAJORITY
    # Scored again from the exported model: what the run picked and calibrated on were FER+'s labels.
    data = load_dataset(fer2013_csv)
    val = data.by_split("val")
    plus = majority_labels(val, ferplus_csv)
    has = plus != NO_LABEL
    ckpt = load_checkpoint(tmp_path / "f" / "model.pt")
    logits = face_logits(ckpt.build_model().eval(), val.faces[has], ckpt.normalization)
    plus = torch.as_tensor(plus[has])
    assert summary["val_accuracy"]["best"] == pytest.approx(float((logits.argmax(1) == plus).double().mean()),
                                                            abs=1e-4)
    assert ckpt.temperature == pytest.approx(fit_temperature(logits, plus), rel=1e-3)
    # The test figures: FER2013's labels (comparable with the literature), FER+'s beside them.
    test = summary["test"]
    assert test["n"] == 3589 and test["ferplus"]["n"] == 3378 and test["ferplus"]["n_dedup"] < 3378
    assert "FER+" in test["ferplus"]["split"] and 0 < test["ferplus"]["accuracy"] < 1


@pytest.mark.parametrize("labels, val_labels, val_n, relabelled", [
    ("ferplus_soft", "fer2013", 3589, False),  # FER+ targets, selected on FER2013's labels (the study's runs)
    ("fer2013", "ferplus", PUBLIC_TEST_WITH_FERPLUS_MAJORITY, True),  # FER2013 targets, selected on FER+'s
    ("fer2013", "auto", 3589, False),
])
def test_val_labels_choose_the_labels_of_public_test(fer2013_csv, ferplus_csv, labels, val_labels, val_n,
                                                     relabelled):
    config = load_config(SMOKE, [f"labels={labels}", f"val_labels={val_labels}", f"ferplus={ferplus_csv}",
                                 f"data={fer2013_csv}"])
    data = load_training_data(config)
    fer2013 = load_dataset(fer2013_csv)
    val = data.by_split("val")
    assert len(val) == val_n and (data.split == "test").sum() == 3589
    expected = majority_labels(val, ferplus_csv) if relabelled else fer2013.by_split("val").labels
    assert np.array_equal(val.labels, expected)
    assert np.array_equal(data.by_split("test").labels, fer2013.by_split("test").labels)
    train_faces = (data.split == "train").sum()
    assert (train_faces == 28709) == (labels == "fer2013")  # FER+ drops the faces it gives no label


def test_ferplus_weight_blends_the_votes_into_the_training_targets(fer2013_csv, ferplus_csv):
    config = load_config(SMOKE, ["ferplus_weight=0.3", f"ferplus={ferplus_csv}", f"data={fer2013_csv}"])
    data = load_training_data(config)
    train_data = data.by_split("train")
    assert len(train_data) == 28709  # every face kept, with FER2013's label
    assert np.array_equal(train_data.labels, load_dataset(fer2013_csv).by_split("train").labels)
    soft = train_data.soft_labels
    assert (soft.argmax(axis=1) == train_data.labels).all()  # at 0.3 FER2013's label still leads
    blended = ~np.isclose(soft.max(axis=1), 1.0)
    assert 0.2 < blended.mean() < 0.95  # the faces where FER+'s annotators did not all pick FER2013's label
    datamodule = FaceDataModule(data, config)
    faces, labels, target, _ = next(iter(datamodule.train_dataloader()))
    assert target.shape == (len(labels), 7) and torch.allclose(target.sum(1), torch.ones(len(labels)))


def test_offline_distillation_trains_from_cached_teacher_outputs(fer2013_csv, tmp_path, monkeypatch):
    config = load_config(SMOKE, [*TINY, "epochs=1", "swa=false", "teacher=default", "distill_mode=offline",
                                 f"data={fer2013_csv}", f"out_dir={tmp_path}"])
    result = train(config)
    assert read_history(result.run_dir)[0]["train/distill_loss"] > 0
    cache = result.run_dir / TEACHER_CACHE
    assert cache.is_file()  # the teachers' pass is kept with the run: a resume or another rank reads it

    # The same faces, teacher and temperature: read back, the teacher is not run again.
    datamodule = FaceDataModule(load_training_data(config), config)
    datamodule.cache_dir = result.run_dir
    monkeypatch.setattr(module_mod, "offline_teacher_probs", lambda *a, **k: pytest.fail("teacher ran again"))
    datamodule.prepare_teachers()
    assert torch.equal(datamodule.teacher_probs, torch.load(cache, weights_only=True)["probs"])
    # Another temperature: the file does not match, so the teacher runs (and the file is replaced).
    warmer = dataclasses.replace(config, distill_temperature=4.0)
    datamodule = FaceDataModule(load_training_data(warmer), warmer)
    datamodule.cache_dir = result.run_dir
    calls = []
    monkeypatch.setattr(module_mod, "offline_teacher_probs",
                        lambda c, faces, device="cpu": calls.append(c) or torch.full((len(faces), 7), 1 / 7))
    datamodule.prepare_teachers()
    assert len(calls) == 1 and torch.load(cache, weights_only=True)["key"]["temperature"] == 4.0
    cache.write_bytes(b"not a cache")  # a damaged file is recomputed, not an error
    datamodule.teacher_probs = None
    datamodule.prepare_teachers()
    assert len(calls) == 2
    with pytest.raises(ConfigError, match="distill_mode=offline cannot be combined with mixup or cutmix"):
        load_config(SMOKE, [f"data={fer2013_csv}", "teacher=default", "distill_mode=offline", "mixup=0.2"])


def test_training_against_teacher_outputs_made_elsewhere(fer2013_csv, tmp_path):
    # bench/teacher_outputs.py writes the file where the teachers are; the run needs only the file.
    config = load_config(SMOKE, [*TINY, "teacher=default", f"data={fer2013_csv}"])
    faces = FaceDataModule(load_training_data(config), config).train_data.faces
    outputs = tmp_path / "teachers.pt"
    probs = module_mod.save_teacher_outputs(config, faces, outputs)
    assert probs.shape == (len(faces), 7) and torch.allclose(probs.sum(1), torch.ones(len(faces)), atol=1e-5)

    run = load_config(SMOKE, [*TINY, "epochs=1", "swa=false", f"teacher_outputs={outputs}", f"data={fer2013_csv}",
                              f"out_dir={tmp_path}"])
    result = train(run)
    assert read_history(result.run_dir)[0]["train/distill_loss"] > 0
    assert yaml.safe_load((result.run_dir / "config.yaml").read_text())["teacher_outputs"] == str(outputs)

    # Made at T=2, read at T=4: re-tempered to exactly what the teacher gives at T=4.
    warmer = module_mod.load_teacher_outputs(outputs, faces, 4.0)
    assert torch.allclose(warmer, module_mod.offline_teacher_probs(dataclasses.replace(config, distill_temperature=4.0),
                                                                   faces), atol=1e-5)
    assert warmer.max(1).values.mean() < probs.max(1).values.mean()

    # Refused in one line, before any run folder: other faces, not such a file.
    with pytest.raises(ConfigError, match=r"outputs for 384 other faces than this run's 200 training faces"):
        train(dataclasses.replace(run, train_limit=200, name="other-faces"))
    with pytest.raises(ConfigError, match=r"not a file of teacher outputs"):
        train(dataclasses.replace(run, teacher_outputs=str(result.model_path), name="a-checkpoint"))
    assert not (tmp_path / "other-faces").exists() and not (tmp_path / "a-checkpoint").exists()
    with pytest.raises(ConfigError, match="teacher and teacher_outputs are two sources of the same targets"):
        load_config(SMOKE, [f"data={fer2013_csv}", "teacher=default", f"teacher_outputs={outputs}"])
    with pytest.raises(ConfigError, match="teacher_outputs cannot be combined with mixup or cutmix"):
        load_config(SMOKE, [f"data={fer2013_csv}", f"teacher_outputs={outputs}", "cutmix=1"])
    with pytest.raises(ConfigError, match="teacher_outputs: .*nope.pt: no such file"):
        load_config(SMOKE, [f"data={fer2013_csv}", f"teacher_outputs={tmp_path / 'nope.pt'}"])
    with pytest.raises(ConfigError, match="distill_mode must be online, offline or crossfit"):
        load_config(SMOKE, [f"data={fer2013_csv}", "distill_mode=cached"])


def test_crossfit_distillation_gives_each_face_the_teachers_that_did_not_train_on_it(fer2013_csv, tmp_path):
    # Two teachers, each trained without one half of the faces; the student's target for a face comes only from
    # the teacher that never saw it.
    common = [*TINY, "epochs=1", "swa=false", f"data={fer2013_csv}", f"out_dir={tmp_path}"]
    teachers = []
    for k in (0, 1):
        config = load_config(SMOKE, [*common, f"holdout_fold={k}/2", f"name=teacher{k}"])
        kept = FaceDataModule(load_training_data(config), config).train_data.faces
        assert len(kept) == 192
        teachers.append(train(config).model_path)
    fold = module_mod.face_folds(384, 2)
    assert np.bincount(fold).tolist() == [192, 192]
    assert np.array_equal(fold, module_mod.face_folds(384, 2))  # the same split in every run

    student = load_config(SMOKE, [*common, f"teacher={teachers[0]},{teachers[1]}", "distill_mode=crossfit",
                                  "name=student"])
    faces = FaceDataModule(load_training_data(student), student).train_data.faces
    assert np.array_equal(kept, faces[fold != 1])  # teacher1 trained on the faces outside fold 1
    probs = module_mod.offline_teacher_probs(student, faces)
    for k, path in enumerate(teachers):
        alone = dataclasses.replace(student, teacher=str(path), distill_mode="offline")
        assert torch.allclose(probs[fold == k], module_mod.offline_teacher_probs(alone, faces[fold == k]), atol=1e-6)
    result = train(student)
    assert read_history(result.run_dir)[0]["train/distill_loss"] > 0
    assert torch.load(result.run_dir / TEACHER_CACHE, weights_only=True)["key"]["mode"] == "crossfit"

    # Refused in one line before any run folder: a teacher that saw every face, a fold without a teacher,
    # teachers of another slice; bad folds.
    for teacher, message in [(f"{teachers[0]},default", "was trained on every face"),
                             (str(teachers[0]), "no teacher was trained without fold.s. 1 of 2")]:
        with pytest.raises(ConfigError, match=message):
            train(dataclasses.replace(student, teacher=teacher, name="refused"))
    with pytest.raises(ConfigError, match="was trained with train_limit=384, this run has 200"):
        train(dataclasses.replace(student, train_limit=200, name="refused"))
    assert not (tmp_path / "refused").exists()
    with pytest.raises(ConfigError, match="holdout_fold cannot be combined with distill_mode=crossfit"):
        load_config(SMOKE, [f"data={fer2013_csv}", "holdout_fold=0/2", "distill_mode=crossfit"])
    for fold_text in ("2/2", "1/1", "half"):
        with pytest.raises(ConfigError, match="holdout_fold must be K/N"):
            load_config(SMOKE, [f"data={fer2013_csv}", f"holdout_fold={fold_text}"])


def test_fine_tuning_starts_from_the_weights_it_is_given(fer2013_csv, tmp_path):
    from ferkit.training.module import FaceModule

    first = train(load_config(SMOKE, [*TINY, "epochs=1", "swa=false", f"data={fer2013_csv}", f"out_dir={tmp_path}",
                                      "name=first"]))
    config = load_config(SMOKE, [*TINY, f"init={first.model_path}", f"data={fer2013_csv}", f"out_dir={tmp_path}"])
    start = FaceModule(config, steps_per_epoch=3).model.state_dict()
    for name, weight in load_checkpoint(first.model_path).state_dict.items():
        assert torch.equal(start[name], weight), name
    # Dropout rates do not shape the weights, so a fine-tune may change them.
    config = dataclasses.replace(config, dropout2d=0.0, head_dropout=0.0)
    assert FaceModule(config, steps_per_epoch=3).model.config.dropout2d == 0.0
    with pytest.raises(ConfigError, match=r"^init: .*default_model.pt is a resnet_swish_\w+ checkpoint with another "
                                          r"architecture than model=resnet_swish_xs;"):
        train(load_config(SMOKE, [*TINY, "init=default", f"data={fer2013_csv}", f"out_dir={tmp_path}", "name=bad"]))
    assert not (tmp_path / "bad").exists()  # refused before the run folder was made: the same name works once fixed
    with pytest.raises(ConfigError, match=r"^init: nope.pt: no such checkpoint file$"):
        load_config(SMOKE, [f"data={fer2013_csv}", "init=nope.pt"])


def test_killed_run_resumes_to_the_same_epoch_count(fer2013_csv, tmp_path):
    args = [SMOKE, *TINY, "epochs=4", "swa=false", f"data={fer2013_csv}", f"out_dir={tmp_path}", "name=r"]
    run = tmp_path / "r"
    proc = cli(*args, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (run / "logs" / "metrics.csv").exists() and epochs_logged(run)[-1:] >= [1]:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed:\n" + proc.stdout.read()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "summary.json").exists()

    out, _ = cli(*args, "--resume").communicate(timeout=300)
    assert "test accuracy" in out, out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 4 and summary["resumed"] is True
    assert epochs_logged(run) == [0, 1, 2, 3]


def test_ctrl_c_stops_with_130_and_says_how_to_go_on(fer2013_csv, tmp_path):
    run = tmp_path / "c"
    # Ctrl-C as from a terminal: a shell starts background jobs with SIGINT ignored, and a child inherits that.
    proc = cli(SMOKE, *TINY, "epochs=20", f"data={fer2013_csv}", f"out_dir={tmp_path}", "name=c",
               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not (run / "checkpoints" / "last.ckpt").exists():
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert out.strip().splitlines()[-1].startswith("ferkit: interrupted; the same command with --resume")


def test_cli_errors_are_one_line(tmp_path):
    proc = cli(SMOKE, "epochs=zero")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1 and out.strip() == "ferkit: error: epochs must be int, got 'zero'"
    out, _ = cli(SMOKE, f"out_dir={tmp_path}", "name=none", "--resume").communicate(timeout=120)
    assert out.strip().startswith("ferkit: error:") and "nothing to resume" in out and out.count("\n") == 1


@pytest.mark.parametrize("launcher", ["lightning", "torchrun"])
def test_ddp_two_cpu_processes_agree(fer2013_csv, tmp_path, launcher):
    args = [SMOKE, *TINY, "epochs=1", "swa=false", "strategy=ddp", "devices=2", "accelerator=cpu",
            f"data={fer2013_csv}", f"out_dir={tmp_path}", "name=ddp"]
    if launcher == "lightning":
        proc = cli(*args)
    else:  # torchrun starts both ranks itself; Lightning picks up its environment
        # and offline distillation: rank 0 runs the teacher once, rank 1 reads its outputs from the run folder
        args += ["teacher=default", "distill_mode=offline"]
        proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "ferkit",
                                 "train", *map(str, args)], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=300)
    assert (tmp_path / "ddp" / "summary.json").is_file(), out  # the ranks' output when the run did not finish
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2, out
    a, b = summary["rank_param_checksums"]
    assert a == pytest.approx(b, rel=0, abs=1e-9)
    if launcher == "torchrun":
        assert [p.name for p in (tmp_path / "ddp").glob("teacher_probs*")] == [TEACHER_CACHE], out
        assert read_history(tmp_path / "ddp")[0]["train/distill_loss"] > 0


def test_resume_accepts_a_run_started_before_a_config_key_existed(tmp_path):
    from ferkit.training.run import _prepare_run_dir

    config = TrainConfig(data="x", out_dir=str(tmp_path), name="old")
    (tmp_path / "old" / "checkpoints").mkdir(parents=True)
    with zipfile.ZipFile(tmp_path / "old" / "checkpoints" / "last.ckpt", "w") as resume_point:
        resume_point.writestr("data.pkl", b"")
    saved = {k: v for k, v in config.to_dict().items() if k not in ("dropout2d", "head_dropout")}
    (tmp_path / "old" / "config.yaml").write_text(yaml.safe_dump(saved))
    assert _prepare_run_dir(config, resume=True) == tmp_path / "old"
    with pytest.raises(ConfigError, match=r"--resume with a different config \(dropout2d\)"):
        _prepare_run_dir(dataclasses.replace(config, dropout2d=0.0), resume=True)


def test_resume_accepts_a_run_moved_to_another_machine(tmp_path):
    """A run started on a GPU machine (8 threads, another folder) is finished on 2 cores where it was copied."""
    from ferkit.training.run import _prepare_run_dir

    config = TrainConfig(data="x", out_dir=str(tmp_path), name="moved", threads=2, num_workers=0)
    (tmp_path / "moved" / "checkpoints").mkdir(parents=True)
    with zipfile.ZipFile(tmp_path / "moved" / "checkpoints" / "last.ckpt", "w") as resume_point:
        resume_point.writestr("data.pkl", b"")
    started = dataclasses.replace(config, out_dir="gpu-work/runs", threads=8, num_workers=4, progress=False)
    (tmp_path / "moved" / "config.yaml").write_text(yaml.safe_dump(started.to_dict()))
    assert _prepare_run_dir(config, resume=True) == tmp_path / "moved"
    with pytest.raises(ConfigError, match=r"--resume with a different config \(lr, seed\)"):
        _prepare_run_dir(dataclasses.replace(config, lr=0.1, seed=7), resume=True)


def test_a_run_stopped_in_its_first_epoch_can_start_again(tmp_path):
    from ferkit.training.run import _prepare_run_dir

    config = TrainConfig(data="x", out_dir=str(tmp_path), name="early")
    _prepare_run_dir(config, resume=False)  # then stopped before the first epoch ended: no last.ckpt
    assert _prepare_run_dir(config, resume=False) == tmp_path / "early"  # not "already holds a run"
    (tmp_path / "early" / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ConfigError, match="already holds a run"):
        _prepare_run_dir(config, resume=False)
    with pytest.raises(ConfigError, match=r"last.ckpt: the resume point is damaged"):
        _prepare_run_dir(config, resume=True)
    (tmp_path / "early" / "config.yaml").unlink()
    with pytest.raises(ConfigError, match="config.yaml is missing"):
        _prepare_run_dir(config, resume=True)


@pytest.mark.parametrize("epochs, swa_epoch_start, start", [(1, 0.8, None), (2, 0.5, 2), (3, 0.1, 2), (50, 0.8, 40)])
def test_swa_never_averages_the_starting_weights(epochs, swa_epoch_start, start):
    from lightning.pytorch.callbacks import StochasticWeightAveraging

    from ferkit.training.run import _callbacks

    config = TrainConfig(data="x", epochs=epochs, swa_epoch_start=swa_epoch_start)
    swa = [c for c in _callbacks(config, Path("unused"), 10) if isinstance(c, StochasticWeightAveraging)]
    # Lightning's epoch numbers here are 1-based, and it averages at the start of each: 1 would take in
    # the random weights (and with epochs=1 nothing else).
    assert [c._swa_epoch_start for c in swa] == ([start] if start else [])


def test_a_diverging_run_stops_with_one_line_and_keeps_no_nan_model(fer2013_csv, tmp_path):
    from ferkit.errors import FerkitError

    config = load_config(SMOKE, [*TINY, "lr=1e30", f"data={fer2013_csv}", f"out_dir={tmp_path}", "name=nan"])
    with pytest.raises(FerkitError, match=r"^training diverged: the loss became nan or inf in epoch 0; lower lr"):
        train(config)
    assert not (tmp_path / "nan" / "model.pt").exists()


@pytest.mark.parametrize("scheduled,epochs,current,expected", [
    (True, 200, 201, "averaged"),  # Lightning's BatchNorm pass counts as an extra epoch
    (True, 200, 158, "not reached: the run stopped after epoch 158 of 200"),  # early stopping came first
    (True, 200, 200, "not reached"),  # stopped before the BatchNorm pass: no average transferred
    (False, 200, 200, "off"),
])
def test_swa_outcome_says_whether_the_average_was_used(scheduled, epochs, current, expected):
    assert swa_outcome(scheduled, epochs, current).startswith(expected)


def test_swa_is_scheduled_only_from_two_epochs():
    assert TrainConfig(epochs=2).swa_scheduled and not TrainConfig(epochs=1).swa_scheduled
    assert not TrainConfig(epochs=50, swa=False).swa_scheduled
