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


STEMS = ('patch', 'conv')
STEM_NORMS = ('batch', 'layer')


def check_stem(stem: str) -> None:
    """Raise a clear error for a ``stem`` argument other than ``'patch'`` or ``'conv'``."""
    if stem == 'teacher':
        raise ValueError("stem='teacher' is resolved by DataFreeDistiller from its teacher, in a student "
                         "config only; elsewhere use stem='patch' or stem='conv'.")
    if stem not in STEMS:
        raise ValueError(f"stem must be 'patch' or 'conv', got {stem!r}.")


def teacher_stem(teacher: nn.Module) -> str:
    """The stem kind of a model: ``'conv'`` if it holds a :class:`ConvStem`, else ``'patch'``."""
    return 'conv' if any(isinstance(m, ConvStem) for m in teacher.modules()) else 'patch'


class ConvStem(nn.Module):
    """A convolutional stem in place of a ViT's patchify convolution.

    A stride-``p`` ``p x p`` convolution (ViT's patch embedding) is replaced by
    3x3 convolutions with a norm (``norm``) and ReLU: one at full resolution, then
    ``log2(p)`` stages that halve the resolution and double the width (at
    most ``4 * base_channels``), each but the last followed by a stride-1
    convolution, then a 1x1 projection to the token width. The tokens keep
    the patch grid, so position tables, attention and every hook are those of
    the plain ViT. This is the hybrid-ViT design of Xiao et al. 2021 ("Early
    convolutions help transformers see better") deepened as in the hybrid
    ResNet-stem ViTs. On small data without shortcut cues of texture or
    colour (Glyphs-Cls, letters on photographs) a plain DeiT-nano stayed near
    chance, and the same blocks behind this stem learnt it (README,
    "Teachers").

    Args:
        in_channels (int): Input channels.
        embed_dim (int): Token width ``C``.
        patch_size (int): Total stride ``p``, a power of two (>= 2).
        base_channels (int): Width of the first convolution. Default: 32.
        norm (str): ``'batch'`` (BatchNorm2d, the hybrid teachers') or
            ``'layer'`` (:class:`LN2d`, per position). A data-free student
            should use ``'layer'``: batch norm would keep running statistics
            of synthetic images and apply them to real ones (Digits-Cls:
            0.749 top-1 with them, 0.841 with the real batch's, single run;
            README, "Results"). Default: ``'batch'``.

    Shapes:
        ``(N, in_channels, H, W)`` -> ``(N, C, H / p, W / p)``.
    """

    def __init__(self, in_channels: int, embed_dim: int, patch_size: int, base_channels: int = 32,
                 norm: str = 'batch') -> None:
        super().__init__()
        if patch_size < 2 or patch_size & (patch_size - 1):
            raise ValueError(f'ConvStem needs a patch_size that is a power of two (>= 2), got {patch_size}; '
                             f"use stem='patch' for other patch sizes.")
        if norm not in STEM_NORMS:
            raise ValueError(f"ConvStem norm must be 'batch' or 'layer', got {norm!r}.")
        norm_layer = nn.BatchNorm2d if norm == 'batch' else LN2d

        def conv(cin: int, cout: int, stride: int) -> list:
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), norm_layer(cout), nn.ReLU(inplace=True)]

        layers = conv(in_channels, base_channels, 1)
        width = base_channels
        num_stages = patch_size.bit_length() - 1
        for stage in range(num_stages):
            out = min(width * 2, 4 * base_channels)
            layers += conv(width, out, 2)
            if stage < num_stages - 1:
                layers += conv(out, out, 1)
            width = out
        layers.append(nn.Conv2d(width, embed_dim, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed.

        Args:
            x (Tensor): (N, C_in, H, W).

        Returns:
            Tensor: (N, C, H / p, W / p).
        """
        return self.layers(x)
