"""Convolutional generator of DAFL / DFAD / ZSKT."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdfkd.registry import MODELS

from .base import BaseGenerator


class UpBlock(nn.Module):
    """Upsample x2 (nearest), 3x3 conv, BatchNorm, LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, h, w) -> (N, C_out, 2h, 2w)."""
        x = F.interpolate(x, scale_factor=2, mode='nearest')
        return self.act(self.bn(self.conv(x)))


@MODELS.register_module()
class ConvGenerator(BaseGenerator):
    """DAFL/DFAD-style generator: ``z -> linear -> [up + conv + BN + LReLU] x S -> conv``.

    ``z`` (``latent_dim``) is projected to a ``channels[0]`` map at
    ``(H, W) / 2**S`` with ``S = len(channels) - 1`` stages, each of which
    doubles the resolution; a last 3x3 conv gives 3 channels and the output
    is ``255 * sigmoid``. The initial size follows ``img_size``, so one
    config serves 32x32 classification and 128x128 detection.

    With ``num_classes=K`` the generator is layout-conditional: the layout is
    rendered into ``K + 1`` maps (one per class plus "any box", see
    :func:`render_layout`) at each stage's input resolution and concatenated
    to that stage's input (and to the last conv's input). A ``None`` layout
    renders zeros.

    Args:
        img_size (int | Sequence[int]): ``S`` or ``(H, W)``; both must be
            multiples of ``2 ** (len(channels) - 1)``.
        latent_dim (int): Size of ``z``. Default: 256.
        channels (Sequence[int]): Width of the initial map and of each
            stage's output. Default: (128, 128, 64, 32), i.e. 3 stages.
        num_classes (int, optional): Classes for layout conditioning.
            Default: None (unconditional).
    """

    def __init__(self,
                 img_size: Union[int, Sequence[int]],
                 latent_dim: int = 256,
                 channels: Sequence[int] = (128, 128, 64, 32),
                 num_classes: Optional[int] = None) -> None:
        super().__init__(img_size, num_classes=num_classes)
        if len(channels) < 2:
            raise ValueError(f'channels needs an initial width and at least one stage, got {channels}')
        factor = 2**(len(channels) - 1)
        height, width = self.img_size
        if height % factor or width % factor:
            raise ValueError(f'img_size {self.img_size} must be a multiple of {factor} for {len(channels) - 1} '
                             'upsampling stages; change img_size or the length of channels')
        self.latent_dim = latent_dim
        self.init_size = (height // factor, width // factor)
        self.fc = nn.Linear(latent_dim, channels[0] * self.init_size[0] * self.init_size[1])
        self.bn0 = nn.BatchNorm2d(channels[0])
        cond = self.cond_channels
        self.stages = nn.ModuleList(
            UpBlock(c_in + cond, c_out) for c_in, c_out in zip(channels[:-1], channels[1:]))
        self.to_rgb = nn.Conv2d(channels[-1] + cond, 3, 3, padding=1)

    def forward(self, batch_size: int, layout: Optional[List[dict]] = None) -> torch.Tensor:
        """Sample ``z`` and synthesise.

        Args:
            batch_size (int): ``N``.
            layout (list[dict], optional): ``N`` layout dicts; used only when
                the generator is conditional.

        Returns:
            Tensor: (N, 3, H, W) float in [0, 255].
        """
        z = self.sample_latent(batch_size)
        x = self.bn0(self.fc(z).view(batch_size, -1, *self.init_size))
        for stage in self.stages:
            x = stage(self._condition(x, layout))
        return 255 * torch.sigmoid(self.to_rgb(self._condition(x, layout)))

    def _condition(self, x: torch.Tensor, layout: Optional[List[dict]]) -> torch.Tensor:
        if self.num_classes is None:
            return x
        cond = self.render_condition(layout, x.shape[0], x.shape[-2:], x.device)
        return torch.cat([x, cond.to(x.dtype)], dim=1)
