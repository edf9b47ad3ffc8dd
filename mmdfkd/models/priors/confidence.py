"""Teacher-confidence prior of DAFL (Chen et al., ICCV 2019), with a detection variant."""
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdfkd.registry import MODELS

from .base import BasePrior, SynthesisContext, as_tensor_list


@MODELS.register_module()
class ConfidencePrior(BasePrior):
    """Make the teacher confident (and optionally class-balanced) on synthetic images.

    The mode follows the taps present in ``ctx.taps_T``:

    - classification, ``taps_T[logits_tap]`` (N, K) logits: DAFL's one-hot
      loss ``CE(logits, argmax(logits))``;
    - detection, ``taps_T[head_tap]`` = the dense head's outputs, whose first
      item is the list of per-level classification logits (N, K, H_l, W_l)
      of a sigmoid head (RetinaNet, FCOS, ...): for every image the
      ``topk`` locations with the highest max-class score ``s`` are taken
      over all levels, and the loss is their mean ``-log s`` (binary
      cross-entropy towards 1).

    If both taps exist, classification wins. With ``balance_weight > 0``,
    DAFL's information-entropy term is added: ``-H(p̄) / log K`` where ``p̄``
    is the batch mean of the class distributions (softmax for
    classification; for detection the selected locations' sigmoid scores,
    normalised to sum to 1); minimising it spreads the batch over classes
    (DAFL weighs it 5).

    Args:
        logits_tap (str): Classification tap name. Default: ``'logits'``.
        head_tap (str): Detection tap name. Default: ``'head'``.
        topk (int): Locations per image in detection mode. Default: 10.
        balance_weight (float): Weight of the class-balance term.
            Default: 0.0.
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    def __init__(self,
                 logits_tap: str = 'logits',
                 head_tap: str = 'head',
                 topk: int = 10,
                 balance_weight: float = 0.0,
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        self.logits_tap = logits_tap
        self.head_tap = head_tap
        self.topk = topk
        self.balance_weight = balance_weight

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Compute the weighted confidence loss.

        Args:
            ctx (SynthesisContext): Reads ``taps_T[logits_tap]`` or
                ``taps_T[head_tap]``.

        Returns:
            Tensor: () weighted loss.
        """
        if self.logits_tap in ctx.taps_T:
            logits = ctx.taps_T[self.logits_tap]
            loss = F.cross_entropy(logits, logits.argmax(dim=1))
            probs = logits.softmax(dim=1)
        elif self.head_tap in ctx.taps_T:
            loss, probs = self._detection(ctx.taps_T[self.head_tap])
        else:
            raise KeyError(f'ConfidencePrior needs taps_T[{self.logits_tap!r}] (classification logits) or '
                           f'taps_T[{self.head_tap!r}] (dense head outputs) but only {sorted(ctx.taps_T)} were '
                           'recorded; add such a recorder or set logits_tap / head_tap')
        if self.balance_weight:
            loss = loss + self.balance_weight * self._balance(probs)
        return self.loss_weight * loss

    def _detection(self, head_outs) -> tuple:
        """Top-k BCE on max-class sigmoid scores; returns (loss, (N*k, K) class distributions)."""
        cls_scores = as_tensor_list(head_outs[0])
        num_classes = cls_scores[0].shape[1]
        logits = torch.cat([s.flatten(2) for s in cls_scores], dim=2)  # (N, K, L)
        max_logits, _ = logits.max(dim=1)  # (N, L)
        k = min(self.topk, max_logits.shape[1])
        top_logits, index = max_logits.topk(k, dim=1)  # (N, k)
        loss = F.binary_cross_entropy_with_logits(top_logits, torch.ones_like(top_logits))
        selected = logits.gather(2, index[:, None, :].expand(-1, num_classes, -1)).sigmoid()  # (N, K, k)
        probs = selected.transpose(1, 2).reshape(-1, num_classes)
        return loss, probs / probs.sum(dim=1, keepdim=True).clamp(min=1e-12)

    @staticmethod
    def _balance(probs: Tensor) -> Tensor:
        """Negative normalised entropy of the mean class distribution of (M, K) ``probs``."""
        mean = probs.mean(dim=0)
        entropy = -(mean * mean.clamp(min=1e-12).log()).sum()
        return -entropy / math.log(max(probs.shape[1], 2))
