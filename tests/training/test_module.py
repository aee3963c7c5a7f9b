import numpy as np
import torch
import pytest

from ferkit.config import TrainConfig
from ferkit.data.dataset import FaceDataset
from ferkit.training.module import FaceDataModule, FaceModule


def dataset(n_train: int, n_val: int = 10) -> FaceDataset:
    n = n_train + n_val
    return FaceDataset(faces=np.zeros((n, 48, 48), np.uint8), labels=np.arange(n) % 7,
                       split=np.array(["train"] * n_train + ["val"] * n_val), source=np.arange(n).astype(str))


@pytest.mark.parametrize("n_train, batch", [(1000, 256), (1024, 256), (100, 256), (257, 256)])
def test_steps_per_epoch_match_the_loader(n_train, batch):
    module = FaceDataModule(dataset(n_train), TrainConfig(data="x", batch_size=batch))
    loader = module.train_dataloader()
    assert module.steps_per_epoch() == len(loader)
    assert all(len(b[0]) > 1 for b in loader)  # never a one-face batch: BatchNorm needs two


def test_weighted_sources_use_weighted_sampling():
    data = dataset(100)
    data.weight[:50] = 3.0
    loader = FaceDataModule(data, TrainConfig(data="x", batch_size=32)).train_dataloader()
    assert type(loader.sampler).__name__ == "WeightedRandomSampler"


def test_module_builds_the_model_with_the_runs_dropout_rates():
    module = FaceModule(TrainConfig(data="x", model="resnet_swish_xs", dropout2d=0.0, head_dropout=0.25), 10)
    rates = [m.p for m in module.model.modules() if isinstance(m, (torch.nn.Dropout, torch.nn.Dropout2d))]
    assert rates and set(rates) == {0.0, 0.25}
    assert module.model.config.head_dropout == 0.25  # and the checkpoint records them with the architecture


@pytest.mark.parametrize("zero_init", [True, False])
def test_module_starts_the_residual_branches_as_configured(zero_init):
    from ferkit.models.resnet_swish import BasicBlock

    module = FaceModule(TrainConfig(data="x", model="resnet_swish_xs", zero_init_residual=zero_init), 10)
    scales = torch.cat([b.conv2[1].weight for b in module.model.modules() if isinstance(b, BasicBlock)])
    assert torch.equal(scales, torch.zeros_like(scales) if zero_init else torch.ones_like(scales))


def test_offline_teacher_outputs_are_the_online_ones_on_unaugmented_faces():
    # The cache holds, per training face, what an online teacher gives that face unaugmented.
    from ferkit.training.module import _load_teacher

    rng = np.random.default_rng(0)
    data = dataset(40)
    data.faces[:] = rng.integers(0, 256, data.faces.shape, dtype=np.uint8)
    config = TrainConfig(data="x", teacher="default", distill_mode="offline", distill_temperature=2.0,
                         batch_size=16, progress=False)
    datamodule = FaceDataModule(data, config)
    datamodule.prepare_teachers()
    cached = datamodule.teacher_probs
    assert cached.shape == (40, 7) and torch.allclose(cached.sum(1), torch.ones(40), atol=1e-5)
    online = FaceModule(TrainConfig(data="x", teacher="default", distill_temperature=2.0), 10)
    assert not FaceModule(config, 10)._teachers  # offline: no teacher runs during training
    teacher, _ = _load_teacher(config.teacher_paths()[0], channels_last=False)
    faces = torch.from_numpy(data.faces[:40])
    x = online._inputs(faces, train=False)
    assert torch.allclose(cached, (teacher(x) / 2.0).softmax(1), atol=1e-4)
    faces_b, labels_b, soft_b, cached_b = next(iter(datamodule.train_dataloader()))
    assert cached_b.shape == (16, 7) and soft_b.numel() == 0
    index = [int(np.flatnonzero((data.faces[:40] == f.numpy()).all(axis=(1, 2)))[0]) for f in faces_b]
    assert torch.equal(cached_b, cached[index])  # each face travels with its own teacher output
