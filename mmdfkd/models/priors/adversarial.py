"""Adversarial prior of DFAD (Fang et al., 2019) and the seed paper's L_adv."""
import torch.nn.functional as F
from torch import Tensor

from mmdfkd.registry import MODELS

from .base import BasePrior, SynthesisContext, as_tensor_list, get_tap


@MODELS.register_module()
class AdversarialPrior(BasePrior):
    """Drive the generator towards images on which student and teacher disagree.

    Returns ``-loss_weight * discrepancy(student, teacher)``: minimising it
    maximises the discrepancy. The mode follows the tap value:

    - a tensor (N, K) of classification logits: ``'l1'`` is the mean absolute
      difference of the softmax probabilities over all N * K entries;
      ``'kl'`` is ``KL(p_T || p_S)`` averaged over images;
    - a tuple / list whose first item is the list of per-level
      classification logits (N, K, H_l, W_l) of a sigmoid dense head: the sum
      over levels of ``|sigmoid(S) - sigmoid(T)|`` divided by the total
      number of entries (``mode`` is ignored). Student and teacher levels
      must have equal shapes.

    The student forward with gradients to the images is the distiller's job;
    the taps must be in ``ctx.taps_S``.

    Args:
        tap (str): Name in both ``taps_T`` and ``taps_S``. Default:
            ``'logits'``; use ``'head'`` for detection.
        mode (str): ``'l1'`` or ``'kl'`` for classification logits.
            Default: ``'l1'``.
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    needs_student = True
    adversarial = True

    def __init__(self, tap: str = 'logits', mode: str = 'l1', loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        if mode not in ('l1', 'kl'):
            raise ValueError(f"AdversarialPrior mode must be 'l1' or 'kl', got {mode!r}")
        self.tap = tap
        self.mode = mode

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Compute the weighted negative discrepancy.

        Args:
            ctx (SynthesisContext): Reads ``taps_T[tap]`` and ``taps_S[tap]``.

        Returns:
            Tensor: () weighted loss (non-positive).
        """
        name = type(self).__name__
        preds_T = get_tap(ctx.taps_T, self.tap, name)
        preds_S = get_tap(ctx.taps_S, self.tap, name, side='taps_S')
        if isinstance(preds_T, Tensor):
            discrepancy = self._logits(preds_S, preds_T)
        else:
            discrepancy = self._dense(as_tensor_list(preds_S[0]), as_tensor_list(preds_T[0]))
        return -self.loss_weight * discrepancy

    def _logits(self, logits_S: Tensor, logits_T: Tensor) -> Tensor:
        """Discrepancy of (N, K) classification logits."""
        if self.mode == 'l1':
            return (logits_S.softmax(dim=1) - logits_T.softmax(dim=1)).abs().mean()
        return F.kl_div(logits_S.log_softmax(dim=1), logits_T.log_softmax(dim=1), log_target=True,
                        reduction='batchmean')

    @staticmethod
    def _dense(scores_S: list, scores_T: list) -> Tensor:
        """Mean absolute difference of sigmoid scores over all levels' entries."""
        if len(scores_S) != len(scores_T) or any(s.shape != t.shape for s, t in zip(scores_S, scores_T)):
            raise ValueError('AdversarialPrior needs student and teacher heads with the same levels and shapes, '
                             f'got {[tuple(s.shape) for s in scores_S]} and {[tuple(t.shape) for t in scores_T]}; '
                             'use the same strides and num_classes in both heads')
        total = sum((s.sigmoid() - t.sigmoid()).abs().sum() for s, t in zip(scores_S, scores_T))
        return total / sum(t.numel() for t in scores_T)
