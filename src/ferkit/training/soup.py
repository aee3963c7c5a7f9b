"""One model from the averaged weights of several fine-tuned from the same start (a "model soup").

Models fine-tuned from one checkpoint with different seeds stay in one basin of the loss, so the mean
of their weights is itself a good model, often better than each (Wortsman et al., 2022, "Model soups").
Unlike an ensemble it costs one forward pass. BatchNorm's running statistics do not average like the
weights do, so they are measured again on the training faces, as SWA does; the temperature is fitted
again on the validation split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import update_bn

from ferkit.data.dataset import FaceDataset
from ferkit.data.preprocess import to_input
from ferkit.evaluation.calibration import fit_temperature
from ferkit.evaluation.logits import face_logits
from ferkit.training.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from ferkit.training.finalize import _accuracy, test_figures


BATCHNORM_MODES = ("measure", "average")


def average_weights(checkpoints: Sequence[Checkpoint]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the checkpoints' floating-point tensors (integer buffers from the first).

    Raises:
        CheckpointError: fewer than two checkpoints, or two of different architectures.
    """
    if len(checkpoints) < 2:
        raise CheckpointError(f"a soup needs at least two models, got {len(checkpoints)}")
    first = checkpoints[0]
    for other in checkpoints[1:]:
        if (other.arch, other.config) != (first.arch, first.config):
            raise CheckpointError(f"cannot average a {other.arch} with a {first.arch}: the models' architectures "
                                  "differ")
    mean = {}
    for key, value in first.state_dict.items():
        if value.is_floating_point():
            mean[key] = torch.stack([c.state_dict[key].double() for c in checkpoints]).mean(0).to(value.dtype)
        else:
            mean[key] = value.clone()
    return mean


def update_batchnorm(model: torch.nn.Module, faces: np.ndarray, normalization: dict[str, float],
                     batch_size: int = 256) -> None:
    """Set every BatchNorm layer's running mean and variance to their average over ``faces`` (N, 48, 48)."""
    batches = (to_input(faces[start:start + batch_size], normalization) for start in range(0, len(faces), batch_size))
    update_bn(batches, model)


# Keys of a training config that differ between the fine-tunes of one soup without changing their recipe.
_PER_RUN_KEYS = ("seed", "name", "out_dir", "threads", "progress")


def shared_recipe(checkpoints: Sequence[Checkpoint]) -> tuple[dict | None, list]:
    """The training config the checkpoints have in common once their seeds and run names are set aside (None
    where a checkpoint records none or two differ), and their seeds."""
    configs = [c.metrics.get("config") or {} for c in checkpoints]
    seeds = [config.get("seed") for config in configs]
    recipes = [{k: v for k, v in config.items() if k not in _PER_RUN_KEYS} for config in configs]
    same = all(recipes) and all(recipe == recipes[0] for recipe in recipes[1:])
    return (recipes[0] if same else None), seeds


def make_soup(paths: Sequence[str | Path], data: FaceDataset | str | Path,
              batchnorm: str = "measure") -> tuple[Checkpoint, dict]:
    """Average the models at ``paths``, re-measure BatchNorm on ``data``'s training split and fit the
    temperature on its validation split; returns the new checkpoint and a summary of what was done, with the
    test split's figures (as ``ferkit train`` gives them) where ``data`` has one. ``data`` may be a dataset's
    path, read after the models have been checked. ``batchnorm="average"`` keeps the mean of the models'
    BatchNorm statistics instead of measuring them again."""
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"batchnorm must be one of {', '.join(BATCHNORM_MODES)}, got {batchnorm!r}")
    from ferkit.data import load_dataset

    checkpoints = [load_checkpoint(p) for p in paths]
    first = checkpoints[0]
    soup = Checkpoint(arch=first.arch, config=first.config, state_dict=average_weights(checkpoints),
                      labels=first.labels, input_size=first.input_size, normalization=first.normalization)
    data = data if isinstance(data, FaceDataset) else load_dataset(data)
    train, val = data.by_split("train"), data.by_split("val")
    measure = batchnorm == "measure"
    if not len(val) or (measure and not len(train)):
        raise CheckpointError(f"{data.name or 'the data'}: a soup needs the validation split (for the temperature)"
                              + (" and the training split (for BatchNorm)" if measure else ""))
    model = soup.build_model()
    if measure:
        update_batchnorm(model, train.faces, soup.normalization)
    model.eval()
    val_y = torch.as_tensor(val.labels)
    logits = face_logits(model, val.faces, soup.normalization)
    temperature = fit_temperature(logits, val_y)
    model.temperature.fill_(temperature)
    recipe, seeds = shared_recipe(checkpoints)
    summary = {
        "soup": [str(p) for p in paths],
        "soup_seeds": seeds,
        "val_accuracy": round(_accuracy(logits, val_y), 5),
        "val_accuracy_ingredients": [
            round(_accuracy(face_logits(c.build_model(), val.faces, c.normalization), val_y), 5) for c in checkpoints],
        "temperature": round(temperature, 4),
        "batchnorm_faces": len(train) if measure else 0,  # 0: the models' statistics averaged
    }
    if recipe is not None:  # read by ferkit evaluate and the model card as the recipe of every ingredient
        summary["config"] = recipe
    if len(data.by_split("test")):
        summary["test"] = test_figures(model, data, soup.normalization, temperature)
    result = Checkpoint.from_model(first.arch, model, normalization=dict(first.normalization), metrics=summary)
    return result, summary
