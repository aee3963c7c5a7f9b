"""A picture of what the training augmentation does to real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ferkit.data.dataset import FaceDataset
from ferkit.labels import EMOTIONS
from ferkit.training.augment import AugmentConfig, augment


def augmentation_figure(data: FaceDataset, out: str | Path, config: AugmentConfig = AugmentConfig(),
                        variants: int = 6, seed: int = 0) -> Path:
    """Save a grid: one training face per emotion (rows), the original then ``variants`` augmentations.

    Args:
        data: faces to draw from (the train split is used when present).
        out: PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = data.by_split("train") if (data.split == "train").any() else data
    rng = np.random.default_rng(seed)
    rows = [(name, rng.choice(np.flatnonzero(train.labels == i)))
            for i, name in enumerate(EMOTIONS) if (train.labels == i).any()]
    faces = torch.from_numpy(train.faces[[i for _, i in rows]]).float().unsqueeze(1) / 255  # (R, 1, 48, 48)
    generator = torch.Generator().manual_seed(seed)
    columns = [faces] + [augment(faces, config, generator) for _ in range(variants)]

    fig, axes = plt.subplots(len(rows), variants + 1, figsize=(1.3 * (variants + 1), 1.4 * len(rows)),
                             squeeze=False)
    for r, (name, _) in enumerate(rows):
        for c, batch in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(batch[r, 0].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            if r == 0:
                ax.set_title("original" if c == 0 else f"augmented {c}", fontsize=8)
    fig.suptitle(f"Training augmentation: flip={config.flip}, shift={config.shift}, rotation={config.rotation} deg, "
                 f"zoom={config.zoom}, fill={config.fill}", fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
