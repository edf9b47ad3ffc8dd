"""Random object layouts for detection synthesis, and their rendering.

A *layout* is a list with one dict per image::

    {'bboxes': Tensor (k, 4) float, xyxy in pixels, 'labels': Tensor (k,) long}

:class:`LayoutSampler` draws layouts; :func:`render_layout` turns them into the
conditioning maps that conditional generators consume. Both live next to the
generators because the generators are their consumers; the priors and the
augmentation only read layouts.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmdet.structures.bbox import bbox_overlaps

from mmdfkd.registry import MODELS


def to_2tuple_size(img_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """Normalise an image size to ``(H, W)``.

    Args:
        img_size (int | Sequence[int]): ``S`` for a square image or ``(H, W)``.

    Returns:
        tuple[int, int]: ``(H, W)``.
    """
    if isinstance(img_size, int):
        return img_size, img_size
    size = tuple(int(s) for s in img_size)
    if len(size) != 2:
        raise ValueError(f'img_size must be an int or (H, W), got {img_size!r}')
    return size


@MODELS.register_module()
class LayoutSampler:
    """Sample random box layouts: 1..``max_objects`` boxes per image.

    Each box draws a side ``s`` log-uniformly in ``[min_size, max_size]`` and
    an aspect ratio ``a = w / h`` log-uniformly in ``aspect_range``, so
    ``w = s * sqrt(a)``, ``h = s / sqrt(a)``, both then clamped to
    ``[min_size, max_size]``; its position is uniform inside the image and
    its class uniform in ``[0, num_classes)``. A candidate overlapping an
    accepted box with IoU above ``max_iou`` is redrawn, up to ``max_tries``
    times per box; boxes that still collide are dropped, so an image may end
    up with fewer boxes than drawn (never fewer than one). All randomness
    comes from torch's global RNG, so MMEngine's seeding makes layouts
    reproducible.

    The defaults are generic, relative to the image and not to any dataset:
    sides from 1/10 to 1/2 of the image's shorter side (scale-invariant,
    log-uniform, as natural-image object sizes roughly are), and at most as
    many objects as boxes of the geometric-mean side would cover a quarter
    of the image (:func:`occupancy_max_objects`). A detection teacher knows
    better: :class:`~mmdfkd.models.generators.TeacherLayoutSampler` derives
    the sizes from its head.

    Args:
        min_size (float, optional): Smallest box side in pixels.
            Default: 1/10 of the image's shorter side.
        max_size (float, optional): Largest box side in pixels (clamped to
            the image). Default: 1/2 of the image's shorter side.
        min_objects (int): Fewest boxes drawn per image. Default: 1.
        max_objects (int, optional): Most boxes drawn per image. Default:
            :func:`occupancy_max_objects` of the image and sizes.
        aspect_range (tuple[float, float]): Range of ``w / h``.
            Default: (0.75, 1.33).
        max_iou (float): Largest IoU allowed between two boxes of one image.
            Default: 0.1.
        max_tries (int): Draws per box before it is dropped. Default: 10.
    """

    #: default sides, as fractions of the image's shorter side
    DEFAULT_SIZE_FRACTIONS = (0.1, 0.5)

    def __init__(self,
                 min_size: Optional[float] = None,
                 max_size: Optional[float] = None,
                 min_objects: int = 1,
                 max_objects: Optional[int] = None,
                 aspect_range: Tuple[float, float] = (0.75, 1.33),
                 max_iou: float = 0.1,
                 max_tries: int = 10) -> None:
        if min_size is not None and max_size is not None and not 0 < min_size <= max_size:
            raise ValueError(f'need 0 < min_size <= max_size, got {min_size} and {max_size}')
        if max_objects is not None and not 1 <= min_objects <= max_objects:
            raise ValueError(f'need 1 <= min_objects <= max_objects, got {min_objects} and {max_objects}')
        if not 0 < aspect_range[0] <= aspect_range[1]:
            raise ValueError(f'aspect_range must be (low, high) with 0 < low <= high, got {aspect_range}')
        self.min_size = None if min_size is None else float(min_size)
        self.max_size = None if max_size is None else float(max_size)
        self.min_objects = min_objects
        self.max_objects = max_objects
        self.aspect_range = (float(aspect_range[0]), float(aspect_range[1]))
        self.max_iou = max_iou
        self.max_tries = max_tries

    def __call__(self, batch_size: int, img_size: Union[int, Sequence[int]], num_classes: int) -> List[dict]:
        """Draw one layout per image.

        Args:
            batch_size (int): Number of images ``N``.
            img_size (int | Sequence[int]): ``(H, W)`` of the images.
            num_classes (int): Labels are drawn uniformly in ``[0, num_classes)``.

        Returns:
            list[dict]: ``N`` dicts with ``'bboxes'`` (k, 4) float32 xyxy
            pixels (CPU) and ``'labels'`` (k,) int64, ``1 <= k <= max_objects``.
        """
        height, width = to_2tuple_size(img_size)
        lo, hi = self.size_range((height, width))
        if lo > min(height, width):
            raise ValueError(f'min_size={lo} does not fit a {height}x{width} image; '
                             'lower the layout sampler\'s min_size')
        max_objects = self.max_objects or occupancy_max_objects((height, width), self.typical_side(lo, hi))
        return [self._sample_one(height, width, num_classes, lo, hi, max(self.min_objects, max_objects))
                for _ in range(batch_size)]

    def size_range(self, img_size: Tuple[int, int]) -> Tuple[float, float]:
        """``(min_size, max_size)`` in pixels for an ``(H, W)`` image: the given ones or the relative defaults."""
        short = min(img_size)
        lo = self.min_size if self.min_size is not None else self.DEFAULT_SIZE_FRACTIONS[0] * short
        hi = self.max_size if self.max_size is not None else self.DEFAULT_SIZE_FRACTIONS[1] * short
        return lo, max(lo, hi)

    def typical_side(self, lo: float, hi: float) -> float:
        """The geometric mean of the side distribution (that of ``[lo, hi]`` here)."""
        return math.sqrt(lo * hi)

    def sample_side(self, lo: float, hi: float) -> float:
        """One box side, log-uniform in ``[lo, hi]`` (subclasses reweight it)."""
        return math.exp(math.log(lo) + float(torch.rand(())) * (math.log(hi) - math.log(lo)))

    def sample_aspect(self, u: float) -> float:
        """One aspect ratio ``w / h`` from a uniform ``u`` in [0, 1): log-uniform in ``aspect_range``
        (subclasses reweight it)."""
        log_lo, log_hi = math.log(self.aspect_range[0]), math.log(self.aspect_range[1])
        return math.exp(log_lo + u * (log_hi - log_lo))

    def _sample_one(self, height: int, width: int, num_classes: int, lo: float, hi: float,
                    max_objects: int) -> dict:
        num_objects = int(torch.randint(self.min_objects, max_objects + 1, ()))
        max_w = min(hi, width)
        max_h = min(hi, height)
        boxes = torch.zeros(0, 4)
        for _ in range(num_objects):
            for _ in range(self.max_tries):
                side = self.sample_side(lo, hi)
                log_aspect, u, v = torch.rand(3).tolist()
                aspect = self.sample_aspect(log_aspect)
                w = min(max(side * math.sqrt(aspect), lo), max_w)
                h = min(max(side / math.sqrt(aspect), lo), max_h)
                x1, y1 = u * (width - w), v * (height - h)
                box = torch.tensor([[x1, y1, x1 + w, y1 + h]])
                if len(boxes) == 0 or bbox_overlaps(box, boxes).max() <= self.max_iou:
                    boxes = torch.cat([boxes, box])
                    break
        labels = torch.randint(0, num_classes, (len(boxes), ))
        return dict(bboxes=boxes, labels=labels)


def occupancy_max_objects(img_size: Tuple[int, int], side: float, occupancy: float = 0.25, cap: int = 8) -> int:
    """A generic object count: how many boxes of a typical side cover ``occupancy`` of the image.

    Args:
        img_size (tuple[int, int]): ``(H, W)``.
        side (float): the typical (geometric-mean) box side.
        occupancy (float): share of the image the boxes of one image cover
            at most, on average. Default: 0.25.
        cap (int): most objects. Default: 8.

    Returns:
        int: in ``[1, cap]``.
    """
    return int(min(cap, max(1, round(occupancy * img_size[0] * img_size[1] / side**2))))


def render_layout(layout: Optional[List[dict]], num_classes: int, img_size: Tuple[int, int],
                  out_size: Tuple[int, int], batch_size: int, device: torch.device) -> torch.Tensor:
    """Rasterise layouts into class maps plus an any-box map.

    Channel ``c < num_classes`` is 1 at pixels inside a box of class ``c``,
    channel ``num_classes`` is 1 inside any box. The map is rendered directly
    at ``out_size`` (a pixel is inside when its centre, mapped back to image
    coordinates, is). A ``None`` layout renders all zeros (unconditional).

    Args:
        layout (list[dict] | None): ``N`` dicts with ``'bboxes'`` (k, 4) xyxy
            pixels of an ``img_size`` image and ``'labels'`` (k,) long.
        num_classes (int): Number of classes ``K``.
        img_size (tuple[int, int]): ``(H, W)`` the boxes refer to.
        out_size (tuple[int, int]): ``(h, w)`` of the map.
        batch_size (int): ``N``; must equal ``len(layout)``.
        device (torch.device): Device of the map.

    Returns:
        Tensor: (N, K + 1, h, w) float, values in {0, 1}.
    """
    out_h, out_w = out_size
    maps = torch.zeros(batch_size, num_classes + 1, out_h, out_w, device=device)
    if layout is None:
        return maps
    if len(layout) != batch_size:
        raise ValueError(f'layout has {len(layout)} entries but the batch has {batch_size} images; '
                         'sample one layout dict per image')
    ys = (torch.arange(out_h, device=device) + 0.5) * (img_size[0] / out_h)
    xs = (torch.arange(out_w, device=device) + 0.5) * (img_size[1] / out_w)
    for i, item in enumerate(layout):
        boxes = item['bboxes'].to(device=device, dtype=torch.float32)
        if len(boxes) == 0:
            continue
        labels = item['labels'].to(device=device, dtype=torch.long)
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f'layout labels must lie in [0, {num_classes}), got {labels.tolist()}')
        inside_y = (ys[None] >= boxes[:, 1:2]) & (ys[None] < boxes[:, 3:4])  # (k, h)
        inside_x = (xs[None] >= boxes[:, 0:1]) & (xs[None] < boxes[:, 2:3])  # (k, w)
        masks = (inside_y[:, :, None] & inside_x[:, None, :]).float()  # (k, h, w)
        one_hot = torch.nn.functional.one_hot(labels, num_classes).float()  # (k, K)
        maps[i, :num_classes] = torch.einsum('kc,khw->chw', one_hot, masks).clamp(max=1)
        maps[i, num_classes] = masks.amax(dim=0)
    return maps
