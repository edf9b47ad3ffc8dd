"""Generic natural-image priors: procedural images with the statistics of photographs, from no data.

Two models from the natural-image statistics literature, the ones Baradad et
al. (NeurIPS 2021, "Learning to see by looking at noise") found closest to
real photographs among procedural image families:

- **spectral noise**: random phase with a power spectrum falling as
  ``1 / f^alpha``, ``alpha`` around 2, the law photographs follow
  (Field 1987; van der Schaaf and van Hateren 1996);
- **dead leaves**: opaque discs of random colour dropped on top of each
  other, radii distributed as ``r^-3`` (scale invariance), the occlusion
  model of Lee, Mumford and Huang (2001), textured with spectral noise.

Neither reads an image or knows any dataset; every range below is a property
of natural images in general.
"""
import math
from typing import Tuple, Union

import torch
from torch import Tensor

#: range of the spectral exponent alpha (power ~ 1 / f^alpha)
SPECTRAL_ALPHA = (1.5, 2.5)
#: dead-leaves radii as fractions of the shorter image side
LEAF_RADIUS = (0.02, 0.5)


def spectral_noise(n: int, size: Tuple[int, int], device: torch.device,
                   alpha: Union[Tuple[float, float], Tensor] = SPECTRAL_ALPHA) -> Tensor:
    """Colour noise with a ``1 / f^alpha`` power spectrum, one ``alpha`` per image.

    Each image mixes three independent spectral fields with a random 3x3 colour
    matrix (so channels are correlated, as in photographs).

    Args:
        n (int): images.
        size (tuple[int, int]): ``(H, W)``.
        device (torch.device): where to draw them.
        alpha (tuple[float, float] | Tensor): range of the spectral exponent
            (drawn uniformly per image), or the (n,) exponents themselves
            (gradients flow to them: a learnable spectrum).

    Returns:
        Tensor: (n, 3, H, W) float, zero mean and unit std per image.
    """
    height, width = size
    fy = torch.fft.fftfreq(height, device=device)[:, None]
    fx = torch.fft.rfftfreq(width, device=device)[None]
    freq = (fx**2 + fy**2).sqrt().clamp(min=1.0 / max(height, width))
    if isinstance(alpha, Tensor):
        a = alpha.view(n, 1, 1, 1)
    else:
        a = alpha[0] + torch.rand(n, 1, 1, 1, device=device) * (alpha[1] - alpha[0])
    amplitude = freq[None, None] ** (-a / 2)
    phase = torch.rand(n, 3, *freq.shape, device=device) * 2 * math.pi
    field = torch.fft.irfft2(amplitude * torch.polar(torch.ones_like(phase), phase), s=(height, width))
    mix = torch.randn(n, 3, 3, device=device)
    field = torch.einsum('ncd,ndhw->nchw', mix, field)
    field = field - field.mean(dim=(1, 2, 3), keepdim=True)
    return field / field.flatten(1).std(dim=1).clamp(min=1e-8).view(-1, 1, 1, 1)


def dead_leaves(n: int, size: Tuple[int, int], device: torch.device, num_leaves: int = 48,
                radius: Tuple[float, float] = LEAF_RADIUS) -> Tensor:
    """Dead-leaves images: ``num_leaves`` random-colour discs, later ones on top, radii ~ r^-3.

    Args:
        n (int): images.
        size (tuple[int, int]): ``(H, W)``.
        device (torch.device): where to draw them.
        num_leaves (int): discs per image; the first covers the image (the
            background).
        radius (tuple[float, float]): radius range, fractions of the shorter side.

    Returns:
        Tensor: (n, 3, H, W) float in [0, 255].
    """
    height, width = size
    short = min(height, width)
    r_min, r_max = radius[0] * short, radius[1] * short
    # Inverse CDF of p(r) ~ r^-3 on [r_min, r_max].
    u = torch.rand(n, num_leaves, device=device)
    r = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5
    r[:, 0] = float(max(height, width)) * 2  # the first leaf fills the image
    cy = torch.rand(n, num_leaves, device=device) * height
    cx = torch.rand(n, num_leaves, device=device) * width
    ys = torch.arange(height, device=device).view(1, 1, -1, 1) + 0.5
    xs = torch.arange(width, device=device).view(1, 1, 1, -1) + 0.5
    inside = (ys - cy[..., None, None])**2 + (xs - cx[..., None, None])**2 <= r[..., None, None]**2  # (n, L, H, W)
    order = torch.arange(1, num_leaves + 1, device=device).view(1, -1, 1, 1)
    top = (inside * order).argmax(dim=1)  # (n, H, W): the last leaf covering each pixel
    colours = torch.rand(n, num_leaves, 3, device=device) * 255
    return torch.gather(colours, 1, top.flatten(1)[..., None].expand(-1, -1, 3)).view(n, height, width, 3).permute(
        0, 3, 1, 2)


def spectral_background(base: Tensor, size: Tuple[int, int], std: Tuple[float, float] = (15.0, 70.0)) -> Tensor:
    """Spectral noise around flat colours: ``base`` (n, 3) + std * :func:`spectral_noise`, std uniform in ``std``.

    Returns:
        Tensor: (n, 3, H, W) float, unclamped.
    """
    n, device = len(base), base.device
    scale = std[0] + (std[1] - std[0]) * torch.rand(n, 1, 1, 1, device=device)
    return base[:, :, None, None] + scale * spectral_noise(n, size, device)


def leaves_background(n: int, size: Tuple[int, int], device: torch.device,
                      std: Tuple[float, float] = (5.0, 30.0)) -> Tensor:
    """:func:`dead_leaves` textured with spectral noise of std uniform in ``std``.

    Returns:
        Tensor: (n, 3, H, W) float, unclamped.
    """
    scale = std[0] + (std[1] - std[0]) * torch.rand(n, 1, 1, 1, device=device)
    return dead_leaves(n, size, device) + scale * spectral_noise(n, size, device)


def natural_images(n: int, size: Tuple[int, int], device: torch.device) -> Tensor:
    """Procedural images for backgrounds and object textures: dead leaves or spectral noise.

    Half the images (at random) are :func:`leaves_background`, the other half
    :func:`spectral_background` around a random colour; each family is drawn
    only for its own images.

    Args:
        n (int): images.
        size (tuple[int, int]): ``(H, W)``.
        device (torch.device): where to draw them.

    Returns:
        Tensor: (n, 3, H, W) float in [0, 255].
    """
    use_leaves = torch.rand(n, device=device) < 0.5
    images = torch.empty(n, 3, *size, device=device)
    leaves, flat = use_leaves.nonzero()[:, 0], (~use_leaves).nonzero()[:, 0]
    if len(leaves):
        images[leaves] = leaves_background(len(leaves), size, device)
    if len(flat):
        images[flat] = spectral_background(torch.rand(len(flat), 3, device=device) * 255, size)
    return images.clamp(0, 255)
