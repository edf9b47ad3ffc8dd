"""Replay memory of synthesised batches (CMI / Fast-DFKD style)."""
from typing import List, Optional, Tuple

import torch
from torch import Tensor


class SyntheticMemory:
    """A ring buffer of synthetic images (and their layouts) the student replays.

    Images are stored as uint8 on the CPU, 1/4 of float32's memory: 4,096
    images of 3x128x128 take 200 MB. The memory is not saved in checkpoints; a
    resumed run refills it from the generator.

    Args:
        capacity (int): Most images kept; the oldest are overwritten.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f'memory capacity must be >= 0, got {capacity}')
        self.capacity = capacity
        self._images: Optional[Tensor] = None
        self._layouts: List[Optional[dict]] = []
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, pixels: Tensor, layout: Optional[list] = None) -> None:
        """Store a batch.

        Args:
            pixels (Tensor): (N, 3, H, W) in [0, 255].
            layout (list[dict], optional): N dicts with 'bboxes' (k, 4), 'labels' (k,).
        """
        if self.capacity == 0:
            return
        images = pixels.detach().clamp(0, 255).round().to('cpu', torch.uint8)
        if self._images is None:
            self._images = torch.zeros((self.capacity, ) + images.shape[1:], dtype=torch.uint8)
            self._layouts = [None] * self.capacity
        for i in range(images.shape[0]):
            self._images[self._next] = images[i]
            self._layouts[self._next] = None if layout is None else {
                k: v.detach().cpu() for k, v in layout[i].items()}
            self._next = (self._next + 1) % self.capacity
            self._size = min(self._size + 1, self.capacity)

    def sample(self, num: int, device: torch.device) -> Tuple[Tensor, Optional[list]]:
        """Draw ``num`` stored images uniformly with the global torch RNG.

        Returns:
            tuple: pixels (num, 3, H, W) float in [0, 255] on ``device``, and
            their layouts (list of dicts) or None when none were stored.
        """
        if self._size == 0:
            raise RuntimeError('SyntheticMemory.sample() called on an empty memory; push a batch first.')
        idx = torch.randint(self._size, (num, ))
        pixels = self._images[idx].to(device=device, dtype=torch.float32)
        layouts = [self._layouts[i] for i in idx.tolist()]
        if any(lay is None for lay in layouts):
            return pixels, None
        return pixels, [{k: v.to(device) for k, v in lay.items()} for lay in layouts]
