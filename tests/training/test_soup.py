import numpy as np
import pytest
import torch

from ferkit.data.dataset import FaceDataset
from ferkit.data.preprocess import to_input
from ferkit.models import create_model
from ferkit.training.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from ferkit.training.soup import average_weights, make_soup, shared_recipe, update_batchnorm


def _checkpoint(seed: int, arch: str = "resnet_swish_xs") -> Checkpoint:
    torch.manual_seed(seed)
    return Checkpoint.from_model(arch, create_model(arch).eval())


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_average_is_the_mean_of_the_weights():
    a, b = _checkpoint(0), _checkpoint(1)
    mean = average_weights([a, b])
    key = next(k for k, v in a.state_dict.items() if v.is_floating_point() and v.dim() == 4)
    assert not torch.equal(a.state_dict[key], b.state_dict[key])
    torch.testing.assert_close(mean[key], (a.state_dict[key] + b.state_dict[key]) / 2)
    counts = [k for k in mean if k.endswith("num_batches_tracked")]
    assert counts and all(torch.equal(mean[k], a.state_dict[k]) for k in counts)  # integers are not averaged


def test_average_refuses_one_model_and_mixed_architectures():
    with pytest.raises(CheckpointError, match="at least two"):
        average_weights([_checkpoint(0)])
    with pytest.raises(CheckpointError, match="architectures differ"):
        average_weights([_checkpoint(0), _checkpoint(0, "resnet_swish_s")])


def test_batchnorm_statistics_are_those_of_the_faces():
    model = create_model("resnet_swish_xs").eval()
    faces = _faces(40)
    seen = []
    first_bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    hook = first_bn.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].detach()))
    update_batchnorm(model, faces, {"mean": 0.5, "std": 0.25}, batch_size=16)  # three batches: 16, 16, 8
    hook.remove()
    batch_means = torch.stack([x.mean((0, 2, 3)) for x in seen])
    # a cumulative average weighs each batch equally (as torch.optim.swa_utils.update_bn does)
    torch.testing.assert_close(first_bn.running_mean, batch_means.mean(0), rtol=1e-4, atol=1e-5)
    assert not model.training and first_bn.momentum == 0.1
    with torch.no_grad():
        model(to_input(faces[:2], {"mean": 0.5, "std": 0.25}))  # eval: the statistics stay as measured
    torch.testing.assert_close(first_bn.running_mean, batch_means.mean(0), rtol=1e-4, atol=1e-5)


def test_soup_of_two_models_is_a_calibrated_checkpoint(tmp_path):
    paths = [_checkpoint(seed).save(tmp_path / f"m{seed}.pt") for seed in (0, 1)]
    n = 60
    data = FaceDataset(faces=_faces(n), labels=np.arange(n) % 7,
                       split=np.array(["train"] * 30 + ["val"] * 20 + ["test"] * 10),
                       source=np.array([str(i) for i in range(n)]))
    soup, summary = make_soup(paths, data)
    saved = load_checkpoint(soup.save(tmp_path / "soup.pt"))
    assert saved.arch == "resnet_swish_xs" and saved.temperature == pytest.approx(summary["temperature"], rel=1e-4)
    assert summary["temperature"] > 0 and summary["batchnorm_faces"] == 30
    assert 0 <= summary["val_accuracy"] <= 1 and len(summary["val_accuracy_ingredients"]) == 2
    assert saved.metrics["soup"] == [str(p) for p in paths]
    assert summary["test"]["n"] == 10 and 0 <= summary["test"]["accuracy"] <= 1
    with pytest.raises(CheckpointError, match="training split"):
        make_soup(paths, data.subset(data.split == "val"))


def test_soup_command(tmp_path, capsys):
    from ferkit.cli import main

    paths = [str(_checkpoint(seed).save(tmp_path / f"m{seed}.pt")) for seed in (0, 1)]
    faces, usages = _faces(42), ["Training"] * 21 + ["PublicTest"] * 14 + ["PrivateTest"] * 7
    rows = [f"{i % 7},{' '.join(map(str, f.ravel()))},{u}" for i, (f, u) in enumerate(zip(faces, usages))]
    csv = tmp_path / "faces.csv"
    csv.write_text("\n".join(["emotion,pixels,Usage", *rows]) + "\n")
    assert main(["soup", *paths, "--data", str(csv), "--out", str(tmp_path / "soup.pt"), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "2 models averaged" in printed and "on test (FER2013 PrivateTest)" in printed
    assert load_checkpoint(tmp_path / "soup.pt").metrics["batchnorm_faces"] == 21
    assert main(["soup", paths[0], "--data", str(csv), "--out", str(tmp_path / "one.pt")]) == 1
    assert capsys.readouterr().err.strip() == "ferkit: error: a soup needs at least two models, got 1"


def test_the_soup_records_the_recipe_its_models_share():
    a, b, c = _checkpoint(0), _checkpoint(1), _checkpoint(2)
    recipe = {"data": "d.csv", "epochs": 12, "lr": 0.001}
    a.metrics = {"config": {**recipe, "seed": 0, "name": "ft0"}}
    b.metrics = {"config": {**recipe, "seed": 1, "name": "ft1"}}
    assert shared_recipe([a, b]) == (recipe, [0, 1])
    c.metrics = {"config": {**recipe, "lr": 0.003, "seed": 2}}
    assert shared_recipe([a, b, c]) == (None, [0, 1, 2])  # another learning rate: not one recipe
    assert shared_recipe([a, _checkpoint(3)]) == (None, [0, None])  # one records no config


def test_a_soup_can_keep_the_models_batchnorm_statistics_averaged(tmp_path):
    a, b = _checkpoint(0), _checkpoint(1)
    key = next(k for k in a.state_dict if k.endswith("running_mean"))
    a.state_dict[key] = torch.full_like(a.state_dict[key], 1.0)
    b.state_dict[key] = torch.full_like(b.state_dict[key], 3.0)
    paths = [a.save(tmp_path / "a.pt"), b.save(tmp_path / "b.pt")]
    n = 40
    data = FaceDataset(faces=_faces(n), labels=np.arange(n) % 7, split=np.array(["val"] * 30 + ["test"] * 10),
                       source=np.array([str(i) for i in range(n)]))  # no training split: none is needed
    soup, summary = make_soup(paths, data, batchnorm="average")
    torch.testing.assert_close(soup.state_dict[key], torch.full_like(a.state_dict[key], 2.0))
    assert summary["batchnorm_faces"] == 0 and summary["temperature"] > 0
    with pytest.raises(CheckpointError, match="validation split .for the temperature. and the training split"):
        make_soup(paths, data)  # measuring BatchNorm needs the training faces
    with pytest.raises(ValueError, match="batchnorm must be one of measure, average, got 'median'"):
        make_soup(paths, data, batchnorm="median")
