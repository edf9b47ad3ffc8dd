"""Connectors: trainable aligners from student features to the teacher's shape.

A connector maps a student tap to the teacher tap's channels (and size) so a
distillation loss can compare them. Connectors train with the student: the
distiller puts them in the student's optimiser and drops them at export.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdfkd.registry import MODELS

Feats = Union[torch.Tensor, Sequence[torch.Tensor]]


@MODELS.register_module()
class ConvConnector(BaseModule):
    """1x1 convolution (+ optional BN and ReLU) on NCHW maps, C_S -> C_T.

    A sequence of maps (FPN levels) goes through the same layers level by
    level, so one connector serves a whole neck tap. When a target is given
    and its height/width differ, the output is resized to it bilinearly.

    Args:
        in_channels (int): Student channels ``C_S``.
        out_channels (int): Teacher channels ``C_T``.
        with_bn (bool): BatchNorm after the conv. Default: False.
        with_relu (bool): ReLU last. Default: False (features can be
            negative, e.g. after LN2d).
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: Kaiming-normal for the conv.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 with_bn: bool = False,
                 with_relu: bool = False,
                 init_cfg: Optional[dict] = dict(type='Kaiming', layer='Conv2d')) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        layers = [nn.Conv2d(in_channels, out_channels, 1, bias=not with_bn)]
        if with_bn:
            layers.append(nn.BatchNorm2d(out_channels))
        if with_relu:
            layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, feats_S: Feats, feats_T: Optional[Feats] = None) -> Feats:
        """Map student maps to the teacher's channels (and size).

        Args:
            feats_S (Tensor | Sequence[Tensor]): Student map(s), each
                (N, C_S, H_S, W_S).
            feats_T (Tensor | Sequence[Tensor], optional): Teacher map(s) of
                the same structure, each (N, C_T, H_T, W_T); only their sizes
                are read. Without them the size is kept.

        Returns:
            Tensor | tuple[Tensor]: Like ``feats_S``, each (N, C_T, H_T, W_T).
        """
        if isinstance(feats_S, torch.Tensor):
            size = None if feats_T is None else feats_T.shape[-2:]
            return self._forward_one(feats_S, size, 0)
        feats_S = list(feats_S)
        sizes = [None] * len(feats_S) if feats_T is None else [f.shape[-2:] for f in feats_T]
        if len(sizes) != len(feats_S):
            raise ValueError(f'ConvConnector got {len(feats_S)} student levels and {len(sizes)} teacher levels: '
                             'tap necks with the same number of outputs (num_outs).')
        return tuple(self._forward_one(f, s, i) for i, (f, s) in enumerate(zip(feats_S, sizes)))

    def _forward_one(self, feat: torch.Tensor, size: Optional[torch.Size], level: int) -> torch.Tensor:
        if feat.dim() != 4 or feat.shape[1] != self.in_channels:
            raise ValueError(f'ConvConnector expects (N, {self.in_channels}, H, W) student maps, got level {level} '
                             f'of shape {tuple(feat.shape)}: set in_channels to the student tap\'s channels '
                             '(tokens (N, T, C) need LinearConnector).')
        out = self.layers(feat)
        if size is not None and out.shape[-2:] != size:
            out = F.interpolate(out, size=tuple(size), mode='bilinear', align_corners=False)
        return out


@MODELS.register_module()
class LinearConnector(BaseModule):
    """Linear map of token features C_S -> C_T (+ token-grid resize).

    Takes tokens (N, T, C) or ViT token maps in NHWC layout (N, H, W, C), as
    the ``blocks.i`` taps of :class:`~mmdfkd.models.ViT` output. When a
    target has another token count, the tokens are resized bilinearly as a
    grid: an NHWC map is one already; flat tokens must form a square
    ``n * n`` grid after ``num_prefix_tokens`` leading tokens (class /
    distillation tokens), which are kept as they are.

    Args:
        in_channels (int): Student channels ``C_S``.
        out_channels (int): Teacher channels ``C_T``.
        num_prefix_tokens (int): Leading non-patch tokens of flat (N, T, C)
            inputs, excluded from the grid resize; both models must have the
            same number. Default: 0.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: truncated-normal (std 0.02) for the linear layer.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_prefix_tokens: int = 0,
                 init_cfg: Optional[dict] = dict(type='TruncNormal', layer='Linear', std=0.02)) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_prefix_tokens = num_prefix_tokens
        self.linear = nn.Linear(in_channels, out_channels)

    def forward(self, feats_S: Feats, feats_T: Optional[Feats] = None) -> Feats:
        """Map student tokens to the teacher's width (and token count).

        Args:
            feats_S (Tensor | Sequence[Tensor]): Student tokens, each
                (N, T_S, C_S) or (N, H_S, W_S, C_S).
            feats_T (Tensor | Sequence[Tensor], optional): Teacher tokens of
                the same structure and layout; only their shapes are read.

        Returns:
            Tensor | tuple[Tensor]: Like ``feats_S``, each (N, T_T, C_T) or
            (N, H_T, W_T, C_T).
        """
        if isinstance(feats_S, torch.Tensor):
            return self._forward_one(feats_S, None if feats_T is None else feats_T.shape)
        feats_S = list(feats_S)
        shapes = [None] * len(feats_S) if feats_T is None else [f.shape for f in feats_T]
        if len(shapes) != len(feats_S):
            raise ValueError(f'LinearConnector got {len(feats_S)} student tensors and {len(shapes)} teacher '
                             'tensors: tap the same number of layers in both models.')
        return tuple(self._forward_one(f, s) for f, s in zip(feats_S, shapes))

    def _forward_one(self, tokens: torch.Tensor, shape_T: Optional[torch.Size]) -> torch.Tensor:
        if tokens.dim() not in (3, 4) or tokens.shape[-1] != self.in_channels:
            raise ValueError(f'LinearConnector expects (N, T, {self.in_channels}) or (N, H, W, {self.in_channels}) '
                             f'student tokens, got {tuple(tokens.shape)}: set in_channels to the student tap\'s '
                             'width (NCHW maps need ConvConnector).')
        if shape_T is not None and len(shape_T) != tokens.dim():
            raise ValueError(f'LinearConnector: student tokens {tuple(tokens.shape)} and teacher tokens '
                             f'{tuple(shape_T)} have different layouts; tap both as (N, T, C) or both as NHWC maps.')
        out = self.linear(tokens)
        if shape_T is None or tuple(out.shape[1:-1]) == tuple(shape_T[1:-1]):
            return out
        if out.dim() == 4:
            return _resize_grid(out, tuple(shape_T[1:3]))
        return self._resize_flat(out, shape_T[1])

    def _resize_flat(self, tokens: torch.Tensor, num_tokens_T: int) -> torch.Tensor:
        """Resize (N, T_S, C) tokens to (N, num_tokens_T, C) through a square grid."""
        p = self.num_prefix_tokens
        side_S, side_T = _square_side(tokens.shape[1] - p), _square_side(num_tokens_T - p)
        if side_S is None or side_T is None:
            raise ValueError(
                f'LinearConnector cannot resize {tokens.shape[1]} student tokens to {num_tokens_T} teacher tokens: '
                f'after num_prefix_tokens={p} both counts must be squares n*n. Set num_prefix_tokens to the '
                'number of class/distillation tokens (1 for ViT/DeiT class token, 2 with a distillation token), '
                'or give both models the same patch grid.')
        grid = tokens[:, p:].reshape(tokens.shape[0], side_S, side_S, -1)
        resized = _resize_grid(grid, (side_T, side_T)).flatten(1, 2)
        return torch.cat([tokens[:, :p], resized], dim=1)


def _resize_grid(tokens: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of an NHWC token map (N, H, W, C) to (N, *size, C)."""
    out = F.interpolate(tokens.permute(0, 3, 1, 2), size=size, mode='bilinear', align_corners=False)
    return out.permute(0, 2, 3, 1)


def _square_side(n: int) -> Optional[int]:
    side = math.isqrt(n) if n > 0 else 0
    return side if side > 0 and side * side == n else None
