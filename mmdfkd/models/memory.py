"""Replay memory of synthesised batches (CMI / Fast-DFKD style)."""
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor


class SyntheticMemory:
    """A ring buffer of synthetic images (and their layouts) the student replays.

    Images are stored as uint8 on the CPU, 1/4 of float32's memory: 4,096
    images of 3x128x128 take 200 MB. :meth:`state_dict` /
    :meth:`load_state_dict` carry it through a checkpoint exactly (the
    ``AtomicCheckpointHook`` saves it), so a resumed run replays the images
    the interrupted one would have.

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

    def state_dict(self) -> Dict[str, object]:
        """The stored images and layouts, compactly, in types ``torch.load(weights_only=True)`` reads.

        Returns:
            dict: ``capacity``, ``size``, ``next`` (the ring position),
            ``images`` (size, 3, H, W) uint8 or None when empty, and
            ``layouts``: None when no image has one, else a dict with
            ``keys`` (list of str) and, per key, ``<key>`` (the images'
            tensors concatenated along dim 0) and ``<key>_counts`` (size,)
            int64 rows per image. Images pushed without a layout have
            count -1.
        """
        size = self._size
        state: Dict[str, object] = dict(capacity=self.capacity, size=size, next=self._next, images=None,
                                        layouts=None)
        if size == 0:
            return state
        state['images'] = self._images[:size].clone()  # the ring fills slots 0..capacity-1 in order
        layouts = self._layouts[:size]
        present = [lay for lay in layouts if lay is not None]
        if present:
            keys = sorted(present[0])
            if any(sorted(lay) != keys for lay in present):
                raise ValueError(f'SyntheticMemory: layouts have different keys (first {keys}); every layout '
                                 'must come from the same layout sampler.')
            packed: Dict[str, object] = dict(keys=keys)
            for key in keys:
                packed[key] = torch.cat([lay[key] for lay in present])
                packed[f'{key}_counts'] = torch.tensor(
                    [-1 if lay is None else lay[key].shape[0] for lay in layouts], dtype=torch.int64)
            state['layouts'] = packed
        return state

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises:
            ValueError: ``state`` was saved by a memory of another capacity.
        """
        if state['capacity'] != self.capacity:
            raise ValueError(f'The checkpoint holds a replay memory of {state["capacity"]} images and this model '
                             f'has memory_capacity={self.capacity}; resume with the same memory_capacity.')
        size, images = int(state['size']), state['images']
        self._size, self._next = size, int(state['next'])
        self._images, self._layouts = None, []
        if size == 0:
            return
        self._images = torch.zeros((self.capacity, ) + tuple(images.shape[1:]), dtype=torch.uint8)
        self._images[:size] = images
        self._layouts = [None] * self.capacity
        packed = state['layouts']
        if packed is None:
            return
        starts = {key: 0 for key in packed['keys']}
        for i in range(size):
            if int(packed[f'{packed["keys"][0]}_counts'][i]) < 0:
                continue
            layout = {}
            for key in packed['keys']:
                count = int(packed[f'{key}_counts'][i])
                layout[key] = packed[key][starts[key]:starts[key] + count].clone()
                starts[key] += count
            self._layouts[i] = layout
