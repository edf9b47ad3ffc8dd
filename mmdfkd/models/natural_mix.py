"""CutMix of student batches with procedural natural images: more of the input space, still no data."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmdfkd.registry import MODELS

from .generators.natural_prior import natural_images


@MODELS.register_module()
class NaturalCutMix(nn.Module):
    """Paste a box of a procedural natural image into some synthetic student images.

    A generator that satisfies the teacher often covers a narrow part of the
    input space (smooth blobs the teacher calls confidently), and a student
    that only sees those copies the teacher there and nowhere else. This
    module widens the student's inputs with the generic image prior of
    :func:`~mmdfkd.models.generators.natural_prior.natural_images` (dead
    leaves and ``1/f^2`` spectral noise, Baradad et al. 2021) in the manner
    of CutMix (Yun et al. 2019): for each image, with probability ``prob``,
    a box covering a fraction ``area_range`` of the image is replaced by a
    natural image. The teacher labels the mixed image, so its soft labels
    stay consistent; nothing here reads an image or knows a dataset.

    Classification only: a pasted box would hide detection objects whose
    boxes the layout still claims.

    Args:
        prob (float): Share of images that get a box, in [0, 1]. Default: 0.5.
        area_range (Sequence[float]): Range of the box area over the image
            area, in (0, 1]. Default: (0.1, 0.5).
    """

    def __init__(self, prob: float = 0.5, area_range: Sequence[float] = (0.1, 0.5)) -> None:
        super().__init__()
        low, high = float(area_range[0]), float(area_range[1])
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'NaturalCutMix prob must be in [0, 1], got {prob}')
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f'NaturalCutMix area_range must satisfy 0 < low <= high <= 1, got {tuple(area_range)}')
        self.prob = prob
        self.area_range = (low, high)

    def forward(self, pixels: Tensor, layout: Optional[List[dict]] = None) -> Tuple[Tensor, None]:
        """Mix a batch.

        Args:
            pixels (Tensor): (N, 3, H, W) in [0, 255].
            layout (None): must be ``None`` (classification).

        Returns:
            tuple: the mixed (N, 3, H, W) batch and ``None``.
        """
        if layout is not None:
            raise ValueError('NaturalCutMix is for classification batches; a detection layout would claim '
                             'objects that a pasted box hides. Remove student_mix from a detection config.')
        n, _, height, width = pixels.shape
        device = pixels.device
        area = self.area_range[0] + (self.area_range[1] - self.area_range[0]) * torch.rand(n, device=device)
        box_h, box_w = area.sqrt() * height, area.sqrt() * width
        y0 = torch.rand(n, device=device) * (height - box_h)
        x0 = torch.rand(n, device=device) * (width - box_w)
        ys = torch.arange(height, device=device, dtype=pixels.dtype)[None, :, None]
        xs = torch.arange(width, device=device, dtype=pixels.dtype)[None, None, :]
        inside = ((ys >= y0[:, None, None]) & (ys < (y0 + box_h)[:, None, None]) &
                  (xs >= x0[:, None, None]) & (xs < (x0 + box_w)[:, None, None]))
        chosen = torch.rand(n, device=device) < self.prob
        mask = (inside & chosen[:, None, None])[:, None]
        return torch.where(mask, natural_images(n, (height, width), device).to(pixels.dtype), pixels), None
