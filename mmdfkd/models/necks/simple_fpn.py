"""SimpleFPN: a feature pyramid from the single map of a plain ViT (ViTDet)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdfkd.models.layers import LN2d
from mmdfkd.registry import MODELS

_SUPPORTED_SCALES = (4.0, 2.0, 1.0, 0.5)


@MODELS.register_module()
class SimpleFPN(BaseModule):
    """Simple feature pyramid of ViTDet (Li et al., 2022).

    From one stride-``p`` map the pyramid is built in parallel: scale 4 by two
    stride-2 deconvolutions (stride ``p/4``), scale 2 by one (``p/2``), scale 1
    is the map itself (``p``) and scale 0.5 a 2x2 max-pool (``2p``). Each level
    is then projected to ``out_channels`` by 1x1 conv + LN2d + 3x3 conv + LN2d.
    Extra levels beyond the scales (``num_outs``) are stride-2 subsamplings of
    the last one (ViTDet's "LastLevelMaxPool").

    Args:
        in_channels (int): Channels ``C`` of the backbone map.
        out_channels (int): Channels of every output level.
        scale_factors (Sequence[float]): Levels to build, a decreasing subset
            of (4.0, 2.0, 1.0, 0.5). Default: (4.0, 2.0, 1.0, 0.5).
        num_outs (int, optional): Number of outputs, at least
            ``len(scale_factors)``; defaults to ``len(scale_factors)``.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: Xavier-uniform for Conv2d layers.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 scale_factors: Sequence[float] = _SUPPORTED_SCALES,
                 num_outs: Optional[int] = None,
                 init_cfg: Optional[dict] = dict(type='Xavier', layer='Conv2d', distribution='uniform')) -> None:
        super().__init__(init_cfg=init_cfg)
        scale_factors = tuple(float(s) for s in scale_factors)
        if not scale_factors or any(s not in _SUPPORTED_SCALES for s in scale_factors) \
                or list(scale_factors) != sorted(set(scale_factors), reverse=True):
            raise ValueError(f'scale_factors must be a decreasing subset of {_SUPPORTED_SCALES}, '
                             f'got {scale_factors}.')
        num_outs = len(scale_factors) if num_outs is None else num_outs
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs={num_outs} is below the {len(scale_factors)} scale_factors '
                             f'{scale_factors}; use num_outs >= {len(scale_factors)} or fewer scales.')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factors = scale_factors
        self.num_outs = num_outs

        self.stages = nn.ModuleList()
        for scale in scale_factors:
            resample, channels = self._resample_layer(scale, in_channels)
            self.stages.append(
                nn.Sequential(
                    resample,
                    nn.Conv2d(channels, out_channels, 1, bias=False),
                    LN2d(out_channels),
                    nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                    LN2d(out_channels),
                ))

    @staticmethod
    def _resample_layer(scale: float, channels: int) -> Tuple[nn.Module, int]:
        """The layer that brings the map to ``scale`` and its output width."""
        if scale == 4.0:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, channels // 2, 2, stride=2),
                LN2d(channels // 2),
                nn.GELU(),
                nn.ConvTranspose2d(channels // 2, channels // 4, 2, stride=2),
            ), channels // 4
        if scale == 2.0:
            return nn.ConvTranspose2d(channels, channels // 2, 2, stride=2), channels // 2
        if scale == 1.0:
            return nn.Identity(), channels
        return nn.MaxPool2d(2, stride=2), channels

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Build the pyramid.

        Args:
            inputs (Sequence[Tensor]): Backbone outputs; the last one,
                (N, C, h, w), is used.

        Returns:
            tuple[Tensor]: ``num_outs`` maps (N, out_channels, h * s, w * s)
            for each scale ``s`` in ``scale_factors``, then extra levels each
            half the previous size (rounded up).
        """
        x = inputs[-1]
        outs = [stage(x) for stage in self.stages]
        for _ in range(self.num_outs - len(outs)):
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
