import torch

from ferkit.training.augment import AugmentConfig, augment, random_affine

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
