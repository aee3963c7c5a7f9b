import numpy as np
import pytest
import torch

from ferkit.inference.backends import (BackendError, OnnxBackend, TorchBackend, default_model_file, open_backend,
                                       resolve_model)
from ferkit.inference.onnx_export import sample_faces
from ferkit.labels import EMOTIONS


@pytest.fixture(scope="module")
def faces():
    return sample_faces()


def test_torch_and_onnx_agree_on_real_faces(checkpoint, onnx_model, faces):
    p_torch = TorchBackend(checkpoint)(faces)
    p_onnx = OnnxBackend(onnx_model)(faces)
    assert p_torch.shape == (len(faces), len(EMOTIONS))
    assert np.abs(p_torch - p_onnx).max() <= 1e-4
    assert (p_torch.argmax(1) == p_onnx.argmax(1)).all()
    assert p_torch.std(axis=0).max() > 0.01  # the fixture model reacts to the face


def test_probabilities_apply_normalisation_and_temperature(checkpoint, faces):
    from ferkit.data.preprocess import to_input
    from ferkit.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model()
    with torch.no_grad():
        logits = model(to_input(faces, ckpt.normalization))
    expected = torch.softmax(logits / 2.0, dim=1).numpy()
    backend = TorchBackend(checkpoint)
    assert backend.info.temperature == 2.0
    np.testing.assert_allclose(backend(faces), expected, atol=1e-6)
    assert not np.allclose(backend(faces), torch.softmax(logits, dim=1).numpy(), atol=1e-3)


def test_backend_choice(checkpoint, onnx_model):
    assert open_backend(onnx_model).name == "onnx"
    assert open_backend(checkpoint, "torch").name == "torch"
    assert open_backend(checkpoint, "onnx").name == "onnx"  # through the cache
    assert open_backend(checkpoint).name == "onnx"  # onnxruntime is installed here
    with pytest.raises(BackendError, match="only with the onnx backend"):
        open_backend(onnx_model, "torch")
    with pytest.raises(BackendError, match="unknown backend 'tensorrt'"):
        open_backend(checkpoint, "tensorrt")


def test_bad_model_paths(tmp_path):
    with pytest.raises(BackendError, match="no such model file"):
        resolve_model(tmp_path / "nope.pt")
    with pytest.raises(BackendError, match="is a folder"):
        resolve_model(tmp_path)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    with pytest.raises(BackendError, match="not a readable ONNX model"):
        OnnxBackend(broken)


def test_foreign_onnx_is_refused(tmp_path):
    from onnx import TensorProto, helper, save

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "plain", [x], [y])
    path = tmp_path / "plain.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(BackendError, match="not a ferkit ONNX export"):
        OnnxBackend(path)


def test_default_model_file_matches_the_checkpoint_module():
    from ferkit.training.checkpoint import default_model_path

    assert default_model_file() == default_model_path()


def test_an_ensemble_averages_its_members_calibrated_probabilities(checkpoint, onnx_model, faces, tmp_path):
    from ferkit.inference.backends import EnsembleBackend, ensemble_members

    shipped_backend = TorchBackend(default_model_file())
    shipped = shipped_backend(faces)
    tiny = TorchBackend(checkpoint)(faces)
    assert not np.allclose(shipped, tiny, atol=1e-3)  # else the mean would prove nothing
    both = open_backend(f"{default_model_file()},{checkpoint}", "torch")
    assert isinstance(both, EnsembleBackend) and both.name == "torch"
    np.testing.assert_allclose(both(faces), (shipped + tiny) / 2, atol=1e-6)
    assert both.info.temperature is None
    assert both.info.arch == f"ensemble of {shipped_backend.info.arch}, resnet_swish_xs"
    mixed = open_backend(f"{checkpoint} , {onnx_model}")  # a .pt and an .onnx, spaces allowed
    np.testing.assert_allclose(mixed(faces), tiny, atol=1e-5)
    # A file whose name holds a comma is one model, not an ensemble.
    odd = tmp_path / "a,b.pt"
    odd.write_bytes(checkpoint.read_bytes())
    assert ensemble_members(str(odd)) == [str(odd)] and open_backend(str(odd), "torch").name == "torch"


@pytest.mark.parametrize("model, message", [
    ("{c},", "an ensemble is model files separated by commas, with no empty name"),
    ("{c},{tmp}/absent.pt", "absent.pt: no such model file"),
])
def test_bad_ensembles_name_the_problem(checkpoint, tmp_path, model, message):
    with pytest.raises(BackendError, match=message):
        open_backend(model.format(c=checkpoint, tmp=tmp_path))


def test_an_ensemble_is_refused_where_one_model_is_needed(checkpoint):
    with pytest.raises(BackendError, match="int8 runs one model's int8 version"):
        open_backend(f"{checkpoint},{checkpoint}", int8=True)
    with pytest.raises(BackendError, match="name one model file here"):
        resolve_model(f"{checkpoint},{checkpoint}")
