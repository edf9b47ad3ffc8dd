"""Attention-consistency prior of the transformer-augmented GAN (arXiv 2408.05952)."""
import math
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from mmdfkd.registry import MODELS

from .base import BasePrior, SynthesisContext, as_tensor_list, get_tap


def row_entropy(attn: Tensor) -> Tensor:
    """Entropy of each attention row.

    Args:
        attn (Tensor): (..., T_q, T_k) probabilities over the last axis.

    Returns:
        Tensor: (..., T_q) entropies in nats.
    """
    return -(attn * attn.clamp(min=1e-12).log()).sum(dim=-1)


@MODELS.register_module()
class AttentionConsistencyPrior(BasePrior):
    """Sharp teacher attention on which the heads agree.

    The seed paper (arXiv 2408.05952) trains its generator with
    ``L_G = L_adv + λ L_attention``, an "attention-consistency" term on the
    teacher's patch attention, but publishes no formula for it that we could
    find; this is our precise formulation. Let ``A_1..A_M`` be the attention
    rows (distributions over ``T`` keys) of the ``M`` heads of one layer for
    one query, ``Ā`` their mean and ``H`` the entropy. The loss combines

    - sharpness: ``mean_m H(A_m)`` — each head commits to a few tokens, as a
      ViT does on a real object and does not on noise;
    - consistency: ``H(Ā) - mean_m H(A_m)``, the generalised Jensen-Shannon
      divergence between the heads — the heads look at the same place.

    Both are divided by ``log T`` (so each lies in [0, 1]) and averaged over
    queries, images and layers::

        loss = loss_weight * (sharpness_weight * sharpness
                              + consistency_weight * consistency)

    With equal weights the sum is just ``H(Ā) / log T``, the entropy of the
    head-averaged attention. With ``across_layers=True`` the heads of all
    tapped layers whose maps have the same shape are pooled into one group,
    so the consistency also ties layers together.

    Accepted tap shapes: (B', heads, T, T), or (B' * heads, T, T) with the
    head index minor (mmdfkd's ViT ``blocks.i.attn.attn_drop``, see
    :class:`~mmdfkd.models.backbones.ViT`) together with ``num_heads``.
    Maps are only recorded when the teacher computes attention explicitly
    (``expose_attention=True`` on mmdfkd's ViT; ``fused_attn = False`` on
    timm attention modules).

    Args:
        tap (str): Name in ``ctx.taps_T`` of the attention maps (a tensor or
            a list of them). Default: ``'attn'``.
        num_heads (int, optional): Heads per layer, needed only for 3-D maps.
            Default: None.
        sharpness_weight (float): Weight of the sharpness term. Default: 1.0.
        consistency_weight (float): Weight of the consistency term.
            Default: 1.0.
        across_layers (bool): Pool heads of same-shape layers. Default: False.
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    def __init__(self,
                 tap: str = 'attn',
                 num_heads: Optional[int] = None,
                 sharpness_weight: float = 1.0,
                 consistency_weight: float = 1.0,
                 across_layers: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        self.tap = tap
        self.num_heads = num_heads
        self.sharpness_weight = sharpness_weight
        self.consistency_weight = consistency_weight
        self.across_layers = across_layers

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Compute the weighted attention loss.

        Args:
            ctx (SynthesisContext): Reads ``taps_T[tap]``.

        Returns:
            Tensor: () weighted loss.
        """
        maps = [self._split_heads(a) for a in as_tensor_list(get_tap(ctx.taps_T, self.tap, type(self).__name__))]
        if not maps:
            raise ValueError(f'taps_T[{self.tap!r}] is empty; record at least one attention map')
        losses = [self._group_loss(group) for group in self._groups(maps)]
        return self.loss_weight * torch.stack(losses).mean()

    def _groups(self, maps: List[Tensor]) -> List[Tensor]:
        """Head groups, each (B', M, T, T): one per layer, or per shape across layers."""
        if not self.across_layers:
            return maps
        by_shape: Dict[Tuple[int, ...], List[Tensor]] = {}
        for attn in maps:
            key = (attn.shape[0], ) + tuple(attn.shape[2:])
            by_shape.setdefault(key, []).append(attn)
        return [torch.cat(group, dim=1) for group in by_shape.values()]

    def _group_loss(self, attn: Tensor) -> Tensor:
        """Weighted sharpness + consistency of one (B', M, T, T) group, normalised by log T."""
        attn = attn.float()
        norm = math.log(max(attn.shape[-1], 2))
        mean_entropy = row_entropy(attn).mean(dim=1)  # (B', T)
        mixture_entropy = row_entropy(attn.mean(dim=1))  # (B', T)
        sharpness = mean_entropy.mean() / norm
        consistency = (mixture_entropy - mean_entropy).mean() / norm
        return self.sharpness_weight * sharpness + self.consistency_weight * consistency

    def _split_heads(self, attn: Tensor) -> Tensor:
        """(B', heads, T, T) as is, or (B' * heads, T, T) -> (B', heads, T, T)."""
        if attn.dim() == 4:
            return attn
        if attn.dim() == 3:
            if self.num_heads is None:
                raise ValueError(f'{type(self).__name__} got 3-D attention maps {tuple(attn.shape)} '
                                 '(batch and heads merged); set num_heads to the teacher\'s head count')
            if attn.shape[0] % self.num_heads:
                raise ValueError(f'attention maps {tuple(attn.shape)}: leading size is not a multiple of '
                                 f'num_heads={self.num_heads}; check num_heads')
            return attn.view(-1, self.num_heads, *attn.shape[1:])
        raise ValueError(f'{type(self).__name__} expects attention maps (B\', heads, T, T) or '
                         f'(B\' * heads, T, T), got shape {tuple(attn.shape)}')
