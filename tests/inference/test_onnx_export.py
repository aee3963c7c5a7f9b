import json

import numpy as np
import onnx
import pytest

from ferkit.inference.onnx_export import FORMAT, cached_onnx, check_export, export_onnx


def test_export_is_one_self_describing_file_with_a_dynamic_batch(checkpoint, tmp_path):
    out = export_onnx(checkpoint, tmp_path / "m.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no external .data file
    proto = onnx.load(str(out))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["format"] == FORMAT and float(meta["temperature"]) == 2.0
    assert json.loads(meta["normalization"]) == {"mean": 0.5, "std": 0.25}
    (inp,) = proto.graph.input
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert inp.type.tensor_type.shape.dim[0].dim_param == "batch"


def test_export_reproduces_torch(checkpoint, onnx_model):
    check = check_export(checkpoint, onnx_model)
    assert check.faces >= 50
    assert check.max_abs_diff <= 1e-4 and check.same_top1


def test_check_notices_a_different_model(checkpoint, onnx_model, tmp_path):
    import torch

    from ferkit.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    ckpt.state_dict = {k: v.clone() for k, v in ckpt.state_dict.items()}
    ckpt.state_dict["temperature"] = torch.tensor(0.5)
    other = ckpt.save(tmp_path / "other.pt")
    assert check_export(other, onnx_model).max_abs_diff > 1e-3


def test_cache_is_keyed_by_the_checkpoint_bytes(checkpoint, tmp_path):
    first = cached_onnx(checkpoint)
    stamp = first.stat().st_mtime_ns
    assert cached_onnx(checkpoint) == first and first.stat().st_mtime_ns == stamp  # a hit: no re-export
    copy = tmp_path / "tiny.pt"
    copy.write_bytes(checkpoint.read_bytes() + b"")
    assert cached_onnx(copy) == first  # same bytes, same entry
    from ferkit.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    ckpt.metrics = {"val_acc": 0.5}
    changed = ckpt.save(tmp_path / "tiny2.pt")
    assert cached_onnx(changed) != first


def test_export_of_a_missing_default_model_says_how_to_name_one(monkeypatch, tmp_path):
    import ferkit.inference.backends as backends
    from ferkit.inference.backends import BackendError

    monkeypatch.setattr(backends, "default_model_file", lambda: tmp_path / "default_model.pt")
    with pytest.raises(BackendError, match="no default model installed"):
        export_onnx(None, tmp_path / "x.onnx")


def test_batch_sizes_give_identical_rows(onnx_model):
    from ferkit.inference.backends import OnnxBackend

    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    backend = OnnxBackend(onnx_model)
    np.testing.assert_allclose(backend(faces)[2:3], backend(faces[2:3]), atol=1e-6)
