"""Small layers shared by mmdfkd models."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdfkd.registry import MODELS


@MODELS.register_module()
class LN2d(nn.Module):
    """Layer normalisation over the channels of an NCHW map (ViTDet's LN2d).

    Every spatial position is normalised across its ``C`` channels, then
    scaled and shifted per channel.

    Args:
        num_channels (int): Channels ``C``.
        eps (float): Added to the variance. Default: 1e-6.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise.

        Args:
            x (Tensor): (N, C, H, W).

        Returns:
            Tensor: (N, C, H, W), contiguous.
        """
        x = x.permute(0, 2, 3, 1)
        # weight.shape, not x.shape[-1:]: a constant when traced, so that ONNX export works
        x = F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)
        # Back to contiguous NCHW: a permuted view has channels-last strides, and ops that index
        # raw NCHW memory read it wrongly. mmcv's RoIAlign does (open-mmlab/mmcv issue 2203): it
        # pooled features unrelated to the box, and a two-stage head on this neck could not learn
        # (tests/test_models/test_necks.py).
        return x.permute(0, 3, 1, 2).contiguous()
