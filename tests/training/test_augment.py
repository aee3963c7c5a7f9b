import torch

from ferkit.training.augment import AugmentConfig, augment, mix_batch, random_affine

NONE = AugmentConfig(flip=False, shift=0.0, rotation=0.0, zoom=0.0)


def faces(n=8):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 48, 48, generator=g)


def test_no_transform_is_identity():
    x = faces()
    torch.testing.assert_close(augment(x, NONE), x, atol=1e-5, rtol=0)


def test_flip_mirrors_some_faces_exactly():
    x = faces(64)
    y = augment(x, AugmentConfig(flip=True, shift=0, rotation=0, zoom=0), torch.Generator().manual_seed(1))
    mirrored = [torch.allclose(y[i], x[i].flip(-1), atol=1e-5) for i in range(64)]
    same = [torch.allclose(y[i], x[i], atol=1e-5) for i in range(64)]
    assert all(m or s for m, s in zip(mirrored, same))
    assert 10 < sum(mirrored) < 54


def test_shift_moves_content():
    x = torch.zeros(1, 1, 48, 48)
    x[..., 20:28, 20:28] = 1.0
    theta = random_affine(1, AugmentConfig(flip=False, shift=0.2, rotation=0, zoom=0), torch.Generator().manual_seed(3))
    assert theta[0, :, 2].abs().max() > 0.01
    y = augment(x, AugmentConfig(flip=False, shift=0.2, rotation=0, zoom=0, fill="zeros"),
                torch.Generator().manual_seed(3))
    assert not torch.allclose(y, x, atol=1e-3)
    assert abs(float(y.sum()) - float(x.sum())) < 8  # content moved, not lost


def test_fill_modes_differ_at_the_border():
    x = torch.ones(4, 1, 48, 48)
    big = dict(flip=False, shift=0.3, rotation=30, zoom=0.3)
    zeros = augment(x, AugmentConfig(**big, fill="zeros"), torch.Generator().manual_seed(0))
    border = augment(x, AugmentConfig(**big, fill="border"), torch.Generator().manual_seed(0))
    assert zeros.min() < 0.5  # outside the image becomes 0
    torch.testing.assert_close(border, x)  # nearest fill of a constant image stays constant


def test_batched_shapes_and_dtype():
    x = faces(5).to(memory_format=torch.channels_last)
    y = augment(x, AugmentConfig())
    assert y.shape == x.shape and y.dtype == x.dtype


def test_erasing_fills_one_rectangle_per_chosen_face():
    x = torch.zeros(64, 1, 48, 48)
    y = augment(x, AugmentConfig(flip=False, shift=0, rotation=0, zoom=0, erasing=0.5),
                torch.Generator().manual_seed(0))
    changed = (y != 0).flatten(1)
    erased = changed.any(1)
    assert 16 < int(erased.sum()) < 48  # about half the faces
    area = changed.float().mean(1)[erased]
    assert float(area.min()) >= 0.01 and float(area.max()) <= 0.3
    rows, cols = torch.nonzero(y[erased.nonzero()[0, 0], 0] != 0, as_tuple=True)
    assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # a filled rectangle
    torch.testing.assert_close(augment(x, AugmentConfig(flip=False, shift=0, rotation=0, zoom=0, erasing=0.0)), x)


def test_mixup_blends_inputs_and_targets_alike():
    torch.manual_seed(0)
    x = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1).expand(8, 1, 4, 4).clone()
    target = torch.eye(8)  # face i has class i, and its pixels are all i
    mixed, t = mix_batch(x, target, mixup=0.4)
    torch.testing.assert_close(t.sum(1), torch.ones(8))
    lam = t.diagonal()
    assert 0 < float(lam.min()) < 1  # mixed at all
    # each mixed face is lam * own + (1 - lam) * partner, and the partner's class gets 1 - lam
    for i in range(8):
        partner = int(t[i].clone().index_fill_(0, torch.tensor(i), 0).argmax()) if lam[i] < 1 else i
        expected = lam[i] * i + (1 - lam[i]) * partner
        torch.testing.assert_close(mixed[i], torch.full_like(mixed[i], float(expected)))
    assert mix_batch(x, target) == (x, target)  # both off: untouched


def test_cutmix_target_matches_the_pasted_area():
    torch.manual_seed(1)
    x = torch.zeros(16, 1, 48, 48)
    x[8:] = 1.0  # two kinds of faces: a face's pasted share shows as ones (or zeros)
    target = torch.zeros(16, 2)
    target[:8, 0] = 1
    target[8:, 1] = 1
    mixed, t = mix_batch(x, target, cutmix=1.0)
    share_of_ones = mixed.flatten(1).mean(1)
    torch.testing.assert_close(t[:, 1], share_of_ones)
