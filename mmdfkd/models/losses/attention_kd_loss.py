"""Patch / attention distillation for Vision Transformers."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdfkd.registry import MODELS

Maps = Union[torch.Tensor, Sequence[torch.Tensor]]
_MODES = ('attention', 'token_relation')
_LAYOUTS = ('NHWC', 'NCHW')


@MODELS.register_module()
class AttentionKDLoss(nn.Module):
    """Match how the student's patches relate to each other to the teacher's.

    This is the patch-attention loss ``L_patch`` of data-free ViT
    distillation (Habib et al., "Optimizing Vision Transformers with
    Data-Free Knowledge Transfer", arXiv 2408.05952), where the student is
    trained with ``lambda_KD * L_KD + lambda_CE * L_CE + lambda_patch *
    L_patch`` and ``L_patch`` aligns the student's patch-level attention with
    the teacher's. The text we could consult does not spell out the formula,
    so ``mode='attention'`` uses the standard form below (as in attention
    transfer for transformers, e.g. MiniLM).

    Both modes take one tensor or a list over layers (tap the same number of
    layers in both models) and average the per-layer losses over layers.

    ``mode='attention'``: attention probabilities, the softmax over keys,
    e.g. the output of ``blocks.i.attn.attn_drop`` (with attention dropout
    0). Each layer is (B', heads, T, T), or (B' * heads, T, T) as timm's
    ``attn_drop`` sees it, with ``num_heads_S`` / ``num_heads_T`` set (batch
    index major, head index minor), or (B', T, T). Heads are averaged first,
    so the two models may have different head counts (3D maps without
    ``num_heads_*`` are compared map by map, i.e. head by head when heads are
    folded in: set both to average them instead); every query row is
    then a distribution over the ``T`` keys and the loss is
    ``KL(row_T || row_S)``, summed over keys and averaged over the ``B' * T``
    rows. ``B'`` (images x windows) and ``T`` must match: the same input size,
    patch size and window size.

    ``mode='token_relation'``: token features, (N, T, C) or a 4D map in
    ``layout_S`` / ``layout_T`` (NHWC for ViT ``blocks.i`` taps, NCHW for CNN
    maps). Each model's tokens give a cosine-similarity (Gram) matrix
    (N, T, T); the loss is the MSE between the two, averaged over all
    elements. Channel widths may differ; token counts must match.

    Teacher maps are not detached, so the loss can also measure the
    generator's adversarial discrepancy.

    Args:
        mode (str): ``'attention'`` or ``'token_relation'``.
            Default: ``'attention'``.
        num_heads_S (int, optional): Heads folded into the first dimension of
            3D student attention maps, (B' * heads, T, T). Default: None (3D
            maps are already one per image/window).
        num_heads_T (int, optional): The same for the teacher.
        layout_S (str): Layout of 4D student token maps in
            ``'token_relation'`` mode, ``'NHWC'`` or ``'NCHW'``.
            Default: ``'NHWC'``.
        layout_T (str): The same for the teacher. Default: ``'NHWC'``.
        eps (float): Floor of probabilities inside the logarithms.
            Default: 1e-8.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
    """

    def __init__(self,
                 mode: str = 'attention',
                 num_heads_S: Optional[int] = None,
                 num_heads_T: Optional[int] = None,
                 layout_S: str = 'NHWC',
                 layout_T: str = 'NHWC',
                 eps: float = 1e-8,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f'AttentionKDLoss mode must be one of {_MODES}, got {mode!r}.')
        for name, layout in (('layout_S', layout_S), ('layout_T', layout_T)):
            if layout not in _LAYOUTS:
                raise ValueError(f'AttentionKDLoss {name} must be one of {_LAYOUTS}, got {layout!r}.')
        self.mode = mode
        self.num_heads_S = num_heads_S
        self.num_heads_T = num_heads_T
        self.layout_S = layout_S
        self.layout_T = layout_T
        self.eps = eps
        self.loss_weight = loss_weight

    def forward(self, preds_S: Maps, preds_T: Maps) -> torch.Tensor:
        """Compute the loss.

        Args:
            preds_S (Tensor | Sequence[Tensor]): Student attention maps or
                token features, one tensor or one per layer (see the class
                docstring for shapes).
            preds_T (Tensor | Sequence[Tensor]): Teacher maps, as many.

        Returns:
            Tensor: Scalar loss, multiplied by ``loss_weight``.
        """
        maps_S = [preds_S] if isinstance(preds_S, torch.Tensor) else list(preds_S)
        maps_T = [preds_T] if isinstance(preds_T, torch.Tensor) else list(preds_T)
        if len(maps_S) != len(maps_T) or not maps_T:
            raise ValueError(f'AttentionKDLoss got {len(maps_S)} student and {len(maps_T)} teacher layers: tap the '
                             'same number of layers in both models (pair them in the recorder sources).')
        layer_loss = self._attention_loss if self.mode == 'attention' else self._relation_loss
        loss = sum(layer_loss(s, t, i) for i, (s, t) in enumerate(zip(maps_S, maps_T)))
        return self.loss_weight * loss / len(maps_T)

    def _attention_loss(self, attn_S: torch.Tensor, attn_T: torch.Tensor, layer: int) -> torch.Tensor:
        attn_S = _average_heads(attn_S, self.num_heads_S, 'student', 'num_heads_S', layer)
        attn_T = _average_heads(attn_T, self.num_heads_T, 'teacher', 'num_heads_T', layer)
        if attn_S.shape != attn_T.shape:
            raise ValueError(
                f'AttentionKDLoss layer {layer}: head-averaged attention is {tuple(attn_S.shape)} in the student and '
                f'{tuple(attn_T.shape)} in the teacher, as (images x windows, T, T). The token count T must match '
                '(same input size and patch size; pair windowed with windowed blocks of the same window_size, global '
                'with global); a different first dimension with (B * heads, T, T) maps from timm attn_drop means '
                'num_heads_S / num_heads_T must be set.')
        log_S = attn_S.clamp_min(self.eps).log()
        log_T = attn_T.clamp_min(self.eps).log()
        return (attn_T * (log_T - log_S)).sum(dim=-1).mean()

    def _relation_loss(self, tokens_S: torch.Tensor, tokens_T: torch.Tensor, layer: int) -> torch.Tensor:
        tokens_S = _to_tokens(tokens_S, self.layout_S, 'student', layer)
        tokens_T = _to_tokens(tokens_T, self.layout_T, 'teacher', layer)
        if tokens_S.shape[:2] != tokens_T.shape[:2]:
            raise ValueError(f'AttentionKDLoss layer {layer}: the student has (N, T) = {tuple(tokens_S.shape[:2])} '
                             f'tokens and the teacher {tuple(tokens_T.shape[:2])}: token counts must match (same input '
                             'and patch size, or taps of the same stride); channel widths may differ.')
        return F.mse_loss(_cosine_gram(tokens_S), _cosine_gram(tokens_T))


def _average_heads(attn: torch.Tensor, num_heads: Optional[int], who: str, arg: str, layer: int) -> torch.Tensor:
    """(B', heads, T, T) or (B' * heads, T, T) or (B', T, T) -> (B', T, T)."""
    if attn.dim() == 4 and attn.shape[-1] == attn.shape[-2]:
        return attn.mean(dim=1)
    if attn.dim() != 3 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f'AttentionKDLoss layer {layer}: {who} attention must be (B\', heads, T, T) or '
                         f'(B\' * heads, T, T), got {tuple(attn.shape)}; token features need '
                         "mode='token_relation'.")
    if num_heads is None:
        return attn
    if attn.shape[0] % num_heads:
        raise ValueError(f'AttentionKDLoss layer {layer}: {who} attention {tuple(attn.shape)} has a first dimension '
                         f'that is not a multiple of {arg}={num_heads}; set {arg} to the number of heads of the '
                         'tapped block.')
    return attn.reshape(-1, num_heads, *attn.shape[1:]).mean(dim=1)


def _to_tokens(feat: torch.Tensor, layout: str, who: str, layer: int) -> torch.Tensor:
    """(N, T, C), or a 4D map in ``layout``, -> (N, T, C)."""
    if feat.dim() == 3:
        return feat
    if feat.dim() != 4:
        raise ValueError(f'AttentionKDLoss layer {layer}: {who} token features must be (N, T, C) or a 4D map, got '
                         f'{tuple(feat.shape)}.')
    return feat.flatten(1, 2) if layout == 'NHWC' else feat.flatten(2).transpose(1, 2)


def _cosine_gram(tokens: torch.Tensor) -> torch.Tensor:
    """(N, T, C) -> (N, T, T) cosine similarities between tokens."""
    unit = F.normalize(tokens, dim=-1)
    return unit @ unit.transpose(1, 2)

