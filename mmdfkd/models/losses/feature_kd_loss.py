"""Feature distillation: MSE between (standardised) feature maps, e.g. FPN levels."""
from typing import Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdfkd.registry import MODELS

Feats = Union[torch.Tensor, Sequence[torch.Tensor]]


@MODELS.register_module()
class FeatureKDLoss(nn.Module):
    """Mean squared error between student and teacher features, per level.

    Features are NCHW maps (N, C, H, W), e.g. the levels of a neck tap, or
    token features (N, T, C). With ``normalize=True`` every location (token)
    is first standardised over its channels, like a LayerNorm without affine
    parameters, on both sides: the loss then matches the pattern of a feature
    rather than its scale, which differs between models (and stays O(1)).
    PKD (Cao et al., 2022) standardises each channel over N x H x W instead;
    ours works per location and needs no batch statistics.
    The squared error is averaged over all elements of a level, then over the
    levels, so the value does not depend on batch, size or level count.

    A student with other channels must pass through a connector first; the
    distiller applies it when the config names one for the tap (a
    ``ConvConnector`` also resizes maps to the teacher's H x W). The teacher
    features are not detached, so the loss can also measure the generator's
    adversarial discrepancy.

    Args:
        normalize (bool): Standardise each location over its channels before
            the MSE. Default: True.
        eps (float): Added to the variance when standardising. Default: 1e-5.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
    """

    def __init__(self, normalize: bool = True, eps: float = 1e-5, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.normalize = normalize
        self.eps = eps
        self.loss_weight = loss_weight

    def forward(self, preds_S: Feats, preds_T: Feats) -> torch.Tensor:
        """Compute the loss.

        Args:
            preds_S (Tensor | Sequence[Tensor]): Student features, one tensor
                or one per level, each (N, C, H, W) or (N, T, C).
            preds_T (Tensor | Sequence[Tensor]): Teacher features, the same
                number and shapes.

        Returns:
            Tensor: Scalar loss, multiplied by ``loss_weight``.
        """
        feats_S = [preds_S] if isinstance(preds_S, torch.Tensor) else list(preds_S)
        feats_T = [preds_T] if isinstance(preds_T, torch.Tensor) else list(preds_T)
        if len(feats_S) != len(feats_T) or not feats_T:
            raise ValueError(f'FeatureKDLoss got {len(feats_S)} student and {len(feats_T)} teacher levels: tap '
                             'necks with the same number of outputs (num_outs), or list the same number of modules.')
        loss = sum(self._level_loss(s, t, i) for i, (s, t) in enumerate(zip(feats_S, feats_T)))
        return self.loss_weight * loss / len(feats_T)

    def _level_loss(self, feat_S: torch.Tensor, feat_T: torch.Tensor, level: int) -> torch.Tensor:
        _check_level(feat_S, feat_T, level)
        channel_dim = 1 if feat_T.dim() == 4 else -1
        if self.normalize:
            feat_S, feat_T = self._standardise(feat_S, channel_dim), self._standardise(feat_T, channel_dim)
        return F.mse_loss(feat_S, feat_T)

    def _standardise(self, feat: torch.Tensor, dim: int) -> torch.Tensor:
        mean = feat.mean(dim=dim, keepdim=True)
        var = feat.var(dim=dim, keepdim=True, unbiased=False)
        return (feat - mean) / torch.sqrt(var + self.eps)


def _check_level(feat_S: torch.Tensor, feat_T: torch.Tensor, level: int) -> None:
    """Raise a ValueError that says which connector would fix a mismatch."""
    if feat_T.dim() not in (3, 4) or feat_S.dim() != feat_T.dim():
        raise ValueError(f'FeatureKDLoss level {level}: expected (N, C, H, W) or (N, T, C) in both models, got '
                         f'student {tuple(feat_S.shape)} and teacher {tuple(feat_T.shape)}.')
    if feat_S.shape == feat_T.shape:
        return
    spatial = feat_T.dim() == 4
    channels_S, channels_T = (feat_S.shape[1], feat_T.shape[1]) if spatial else (feat_S.shape[-1], feat_T.shape[-1])
    connector = 'ConvConnector' if spatial else 'LinearConnector'
    fix = (f"add a connector for this student tap in the distiller config, e.g. connectors=dict(neck=dict("
           f"type='{connector}', in_channels={channels_S}, out_channels={channels_T}))")
    if channels_S != channels_T:
        raise ValueError(f'FeatureKDLoss level {level}: student has {channels_S} channels, teacher has {channels_T}: '
                         f'{fix}.')
    raise ValueError(f'FeatureKDLoss level {level}: student {tuple(feat_S.shape)} and teacher {tuple(feat_T.shape)} '
                     f'differ in batch or size: feed both the same images; for another H x W (T) {fix} (it '
                     'resizes to the teacher) or tap levels of the same stride.')
