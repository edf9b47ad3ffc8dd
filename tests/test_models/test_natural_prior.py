"""The generic natural-image prior: 1/f^alpha spectra and dead leaves, and the sprite bank drawing on them."""
import torch

from mmdfkd.models.generators import SpriteBankGenerator
from mmdfkd.models.generators.natural_prior import dead_leaves, natural_images, spectral_noise


def _spectral_slope(img: torch.Tensor) -> float:
    """Least-squares slope of log power vs log radial frequency of a (H, W) image."""
    h, w = img.shape
    power = torch.fft.fft2(img - img.mean()).abs() ** 2
    fy, fx = torch.meshgrid(torch.fft.fftfreq(h), torch.fft.fftfreq(w), indexing='ij')
    f = (fx**2 + fy**2).sqrt()
    keep = (f > 2 / h) & (f < 0.4)
    x, y = f[keep].log(), power[keep].log()
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def test_spectral_noise_has_the_requested_power_law():
    torch.manual_seed(0)
    noise = spectral_noise(4, (128, 128), torch.device('cpu'), alpha=(2.0, 2.0))
    assert noise.shape == (4, 3, 128, 128)
    assert torch.allclose(noise.flatten(1).std(1), torch.ones(4), atol=1e-3)
    slopes = [_spectral_slope(noise[i, 0]) for i in range(4)]
    assert all(-2.4 < s < -1.6 for s in slopes), slopes
    white = _spectral_slope(torch.randn(128, 128))
    assert abs(white) < 0.3  # the measurement tells the two apart


def test_dead_leaves_are_flat_occluding_discs():
    torch.manual_seed(0)
    img = dead_leaves(2, (64, 64), torch.device('cpu'), num_leaves=10)
    assert img.shape == (2, 3, 64, 64) and img.min() >= 0 and img.max() <= 255
    colours = img[0].flatten(1).T.unique(dim=0)
    assert 1 < len(colours) <= 10  # each pixel shows exactly one leaf's flat colour


def test_natural_images_and_a_sprite_bank_on_them():
    torch.manual_seed(0)
    images = natural_images(3, (48, 40), torch.device('cpu'))
    assert images.shape == (3, 3, 48, 40) and images.min() >= 0 and images.max() <= 255
    gen = SpriteBankGenerator((48, 40), num_classes=2, sprites_per_class=2)
    assert gen.background_mode == 'natural' and gen.ink == 'natural' and gen.alpha_logits.shape[-1] == 16
    layout = [dict(bboxes=torch.tensor([[4., 4., 30., 30.]]), labels=torch.tensor([1]))] * 2
    out = gen(2, layout)
    out.mean().backward()
    assert gen.alpha_logits.grad[1].abs().sum() > 0 and gen.alpha_logits.grad[0].abs().sum() == 0


def test_styles_pair_a_background_family_with_an_ink_family():
    torch.manual_seed(0)
    gen = SpriteBankGenerator(32, num_classes=1, sprites_per_class=1, background='styles', ink='styles')
    assert gen.num_styles == 9
    with torch.no_grad():
        gen.alpha_logits.fill_(30.0)  # opaque: the box shows the ink
    box = dict(bboxes=torch.tensor([[8., 8., 24., 24.]]), labels=torch.tensor([0]))
    flat_on_smooth = gen(1, [dict(box, style=torch.tensor([0]))])[0]  # smooth background, flat ink
    inside = flat_on_smooth[:, 8:24, 8:24].flatten(1)
    assert inside.std(dim=1).max() < 1e-3
    textured_on_leaves = gen(1, [dict(box, style=torch.tensor([8]))])[0]  # dead leaves, texture ink
    assert textured_on_leaves[:, 8:24, 8:24].flatten(1).std(dim=1).max() > 1
    import pytest
    with pytest.raises(ValueError, match='go together'):
        SpriteBankGenerator(32, num_classes=1, background='styles', ink='random')
