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
