"""The interface every synthetic-image generator implements."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn

from .layout import render_layout, to_2tuple_size


class BaseGenerator(nn.Module):
    """Base class of generators that synthesise images for data-free KD.

    A generator maps a batch size (and, for detection, an optional layout) to
    images in pixel range: ``forward(N, layout) -> (N, 3, H, W)`` float in
    ``[0, 255]``, differentiable with respect to the generator's parameters.

    Attributes:
        img_size (tuple[int, int]): ``(H, W)`` of the output images.
        num_classes (int | None): Classes of the layout conditioning; ``None``
            means unconditional (layouts are ignored).
        holds_batch (bool): Whether the generator's parameters are one batch
            of images (the pixel bank): the distiller calls :meth:`reset`
            before every batch, may start part of it from remembered images
            with :meth:`refine_from`, and cannot draw fresh batches from it.
        latent_dim (int | None): Size of the latent ``z`` sampled per image,
            ``None`` when there is no latent.

    Args:
        img_size (int | Sequence[int]): ``S`` or ``(H, W)``.
        num_classes (int, optional): Classes for layout conditioning.
            Default: None (unconditional).
    """

    holds_batch: bool = False
    latent_dim: Optional[int] = None

    def __init__(self, img_size: Union[int, Sequence[int]], num_classes: Optional[int] = None) -> None:
        super().__init__()
        self.img_size = to_2tuple_size(img_size)
        self.num_classes = num_classes

    @property
    def cond_channels(self) -> int:
        """Channels of the rendered layout map: ``K + 1``, or 0 if unconditional."""
        return 0 if self.num_classes is None else self.num_classes + 1

    def forward(self, batch_size: int, layout: Optional[List[dict]] = None) -> torch.Tensor:
        """Synthesise a batch.

        Args:
            batch_size (int): Number of images ``N``.
            layout (list[dict], optional): ``N`` dicts with ``'bboxes'``
                (k, 4) xyxy pixels and ``'labels'`` (k,) long.

        Returns:
            Tensor: (N, 3, H, W) float in [0, 255].
        """
        raise NotImplementedError

    def reset(self) -> None:
        """Re-initialise before a new batch; a no-op unless ``holds_batch``."""

    def refine_from(self, pixels: torch.Tensor) -> None:
        """Start the first ``len(pixels)`` images of the held batch from ``pixels``.

        Args:
            pixels (Tensor): (k, 3, H, W) in [0, 255].
        """
        raise NotImplementedError(f'{type(self).__name__} holds no batch of images to refine '
                                  '(holds_batch is False); refine_ratio applies to the pixel bank only.')

    def render_condition(self, layout: Optional[List[dict]], batch_size: int, out_size: Sequence[int],
                         device: torch.device) -> torch.Tensor:
        """Render the layout at ``out_size`` for conditioning.

        Args:
            layout (list[dict] | None): See :meth:`forward`; ``None`` gives zeros.
            batch_size (int): ``N``.
            out_size (Sequence[int]): ``(h, w)`` of the map.
            device (torch.device): Device of the map.

        Returns:
            Tensor: (N, K + 1, h, w), see :func:`render_layout`.
        """
        if self.num_classes is None:
            raise RuntimeError('this generator is unconditional; build it with num_classes=K to use layouts')
        return render_layout(layout, self.num_classes, self.img_size, tuple(out_size), batch_size, device)

    def sample_latent(self, batch_size: int) -> torch.Tensor:
        """Draw ``z ~ N(0, I)`` from torch's global RNG.

        Args:
            batch_size (int): ``N``.

        Returns:
            Tensor: (N, latent_dim) on the generator's device.
        """
        device = next(self.parameters()).device
        return torch.randn(batch_size, self.latent_dim, device=device)
