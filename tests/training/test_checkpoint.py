import pickle

import pytest
import torch

from ferkit.labels import EMOTIONS
from ferkit.models import create_model
from ferkit.training.checkpoint import Checkpoint, CheckpointError, default_model_path, load_checkpoint


@pytest.fixture
def saved(tmp_path):
    model = create_model("resnet_swish_xs").eval()
    model.temperature.fill_(1.5)
    path = Checkpoint.from_model("resnet_swish_xs", model, metrics={"test": {"accuracy": 0.5}}).save(tmp_path / "m.pt")
    return path, model


def test_round_trip_describes_itself(saved):
    path, model = saved
    raw = torch.load(path, weights_only=True)  # plain data: loads without running code
    assert raw["format"] == "ferkit-checkpoint" and raw["labels"] == list(EMOTIONS)
    assert raw["input_size"] == [48, 48] and set(raw["normalization"]) == {"mean", "std"}
    assert raw["ferkit_version"] and raw["arch"] == "resnet_swish_xs" and "widths" in raw["config"]
    ckpt = load_checkpoint(path)
    assert ckpt.temperature == pytest.approx(1.5) and ckpt.metrics["test"]["accuracy"] == 0.5
    x = torch.randn(3, 1, 48, 48)
    torch.testing.assert_close(ckpt.build_model()(x), model(x))


def test_other_architecture_is_one_line(saved, tmp_path):
    path, _ = saved
    raw = torch.load(path, weights_only=True)
    raw["arch"] = "resnet_swish_s"
    raw["config"] = create_model("resnet_swish_s").config.to_dict()
    torch.save(raw, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt: its weights do not fit its resnet_swish_s arch") as info:
        load_checkpoint(tmp_path / "other.pt")  # on load, naming the file, not when the model is built
    assert "\n" not in str(info.value)


class Exploit:
    def __reduce__(self):
        return (print, ("this ran code on load",))


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "not a readable PyTorch checkpoint"),
    (lambda p: p.write_text("hello"), "not a readable PyTorch checkpoint"),
    (lambda p: p.write_text("# notes"), "not a PyTorch checkpoint"),  # once taken for a pickle of objects
    (lambda p: torch.save({"state_dict": {}}, p), "not a ferkit checkpoint"),
    (lambda p: torch.save(create_model("resnet_swish_xs").state_dict(), p), "not a ferkit checkpoint"),
    (lambda p: p.write_bytes(pickle.dumps(Exploit())), "not a readable PyTorch checkpoint|refused"),
    (lambda p: torch.save({"x": Exploit()}, p), "refused to load"),
])
def test_non_ferkit_files_are_refused(tmp_path, capsys, make, message):
    path = tmp_path / "bad.pt"
    make(path)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert "this ran code" not in capsys.readouterr().out


def test_missing_and_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such model file"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_shipped_default_model_loads():
    path = default_model_path()
    if not path.exists():
        pytest.skip("no default model in this checkout")
    ckpt = load_checkpoint(path)
    assert ckpt.metrics["test"]["accuracy"] > 0.5
    assert ckpt.build_model()(torch.zeros(2, 1, 48, 48)).shape == (2, len(EMOTIONS))


def test_a_checkpoint_with_nan_weights_is_refused(saved, tmp_path):
    ckpt = load_checkpoint(saved[0])
    name = next(k for k, v in ckpt.state_dict.items() if v.is_floating_point())
    ckpt.state_dict[name] = torch.full_like(ckpt.state_dict[name], float("nan"))
    ckpt.save(tmp_path / "diverged.pt")
    with pytest.raises(CheckpointError, match=f"diverged.pt: 1 weight tensor.s. hold nan or inf .e.g. {name}.: "
                                              "the run that wrote it diverged"):
        load_checkpoint(tmp_path / "diverged.pt")


def test_weights_that_do_not_fit_the_architecture_name_the_file_and_the_tensor(saved, tmp_path):
    ckpt = load_checkpoint(saved[0])
    name = next(k for k, v in ckpt.state_dict.items() if v.ndim == 4)
    ckpt.state_dict[name] = torch.zeros(3, *ckpt.state_dict[name].shape[1:])
    ckpt.save(tmp_path / "resized.pt")
    with pytest.raises(CheckpointError, match=rf"resized.pt: its weights do not fit its resnet_swish_xs architecture "
                                              rf"\({name} is \(3, "):
        load_checkpoint(tmp_path / "resized.pt")
