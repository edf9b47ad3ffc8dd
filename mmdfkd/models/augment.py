"""Differentiable augmentation of synthetic images (and their layouts)."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmdfkd.registry import MODELS


@MODELS.register_module()
class DifferentiableAugment(nn.Module):
    """Random jitter, flip and resized crop that gradients pass through.

    In this order, with one random draw per batch (torch's global RNG):

    1. jitter: ``torch.roll`` by ``(dy, dx)``, each uniform in
       ``[-jitter, jitter]`` pixels (DeepInversion);
    2. horizontal flip with probability 0.5 when ``flip`` is set (off by
       default: digits are not flip-invariant);
    3. resized crop: a ``(s*H, s*W)`` window, ``s`` uniform in
       ``scale_range``, resampled to ``(H, W)`` bilinearly
       (``F.grid_sample``). For ``s <= 1`` the window lies inside the image
       (zoom in); for ``s > 1`` it contains the image, whose surroundings are
       zeros (zoom out). Its position is uniform over those placements.

    Boxes of a layout follow the same maps: shifted, mirrored, cropped and
    rescaled, then clipped to the image; boxes narrower or shorter than
    ``min_box_size`` afterwards are dropped with their labels. The content a
    roll wraps to the opposite border is not boxed.

    Args:
        jitter (int): Largest roll in pixels; 0 disables it. Default: 4.
        flip (bool): Random horizontal flip. Default: False.
        scale_range (Sequence[float]): Range of the window side over the
            image side, positive; ``(1, 1)`` disables the step.
            Default: (0.8, 1.0).
        min_box_size (float): Boxes below this width or height (pixels) are
            dropped. Default: 4.
        enabled (bool): ``False`` returns the inputs unchanged. Default: True.
    """

    def __init__(self,
                 jitter: int = 4,
                 flip: bool = False,
                 scale_range: Sequence[float] = (0.8, 1.0),
                 min_box_size: float = 4,
                 enabled: bool = True) -> None:
        super().__init__()
        low, high = float(scale_range[0]), float(scale_range[1])
        if not 0 < low <= high:
            raise ValueError(f'scale_range must satisfy 0 < low <= high, got {tuple(scale_range)}')
        if jitter < 0:
            raise ValueError(f'jitter must be >= 0, got {jitter}')
        self.jitter = int(jitter)
        self.flip = flip
        self.scale_range = (low, high)
        self.min_box_size = min_box_size
        self.enabled = enabled

    def forward(self, x: Tensor, layout: Optional[List[dict]] = None) -> Tuple[Tensor, Optional[List[dict]]]:
        """Augment a batch and its layout.

        Args:
            x (Tensor): (N, C, H, W) images.
            layout (list[dict], optional): ``N`` dicts with ``'bboxes'``
                (k, 4) xyxy pixels and ``'labels'`` (k,); other keys are
                copied.

        Returns:
            tuple[Tensor, list[dict] | None]: (N, C, H, W) augmented images
            and the transformed layout (new dicts; ``None`` if none given).
        """
        if not self.enabled:
            return x, layout
        height, width = x.shape[-2:]
        # Each step maps box coordinates as b -> b * scale + offset, per (x, y).
        steps: List[Tuple[Tuple[float, float], Tuple[float, float]]] = []

        if self.jitter:
            dy, dx = torch.randint(-self.jitter, self.jitter + 1, (2, )).tolist()
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            steps.append(((1.0, 1.0), (dx, dy)))
        if self.flip and bool(torch.rand(()) < 0.5):
            x = torch.flip(x, dims=(3, ))
            steps.append(((-1.0, 1.0), (width, 0)))
        low, high = self.scale_range
        if (low, high) != (1.0, 1.0):
            scale = low + float(torch.rand(())) * (high - low)
            crop_h, crop_w = scale * height, scale * width
            y0 = min(0.0, height - crop_h) + float(torch.rand(())) * abs(height - crop_h)
            x0 = min(0.0, width - crop_w) + float(torch.rand(())) * abs(width - crop_w)
            theta = x.new_tensor([[crop_w / width, 0, (2 * x0 + crop_w) / width - 1],
                                  [0, crop_h / height, (2 * y0 + crop_h) / height - 1]])
            grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
            sx, sy = width / crop_w, height / crop_h
            steps.append(((sx, sy), (-x0 * sx, -y0 * sy)))

        if layout is None:
            return x, None
        return x, [self._map_boxes(item, steps, height, width) for item in layout]

    def _map_boxes(self, item: dict, steps: list, height: int, width: int) -> dict:
        """Apply the coordinate maps to one layout dict, clip, drop small boxes."""
        boxes = item['bboxes'].float()
        for (sx, sy), (ox, oy) in steps:
            xs = boxes[:, 0::2] * sx + ox
            ys = boxes[:, 1::2] * sy + oy
            xs = torch.sort(xs, dim=1).values.clamp(0, width)  # a mirror swaps x1 and x2
            ys = ys.clamp(0, height)
            boxes = torch.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], dim=1)
        widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        keep = (widths >= self.min_box_size) & (heights >= self.min_box_size)
        return {**item, 'bboxes': boxes[keep], 'labels': item['labels'][keep]}
