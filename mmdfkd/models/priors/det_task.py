"""Detection-task prior of DIODE (Chawla et al., WACV 2021)."""
import torch
from torch import Tensor

from mmdfkd.registry import MODELS
from .base import BasePrior, SynthesisContext


def sum_losses(losses: dict) -> Tensor:
    """Sum the entries of an MMDetection loss dict whose keys start with ``'loss'``.

    Args:
        losses (dict): name -> Tensor or list of Tensors (per level).

    Returns:
        Tensor: () total.
    """
    terms = []
    for key, value in losses.items():
        if not key.startswith('loss'):
            continue
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            terms.append(item.sum())
    if not terms:
        raise ValueError(f'the teacher returned no loss terms (keys: {sorted(losses)}); its loss() must return '
                         "entries whose names start with 'loss'")
    return torch.stack(terms).sum()


@MODELS.register_module()
class DetTaskPrior(BasePrior):
    """The teacher's own detection loss against the sampled layout.

    Calls ``ctx.teacher.loss(ctx.images, ctx.data_samples)`` — the teacher's
    MMDetection head losses with the sampled boxes as ground truth — and sums
    the entries whose keys start with ``'loss'``. The teacher's parameters
    have no gradients, but the loss back-propagates to the images, so the
    generator learns to draw objects where the layout puts them.

    Args:
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Compute the weighted teacher detection loss.

        Args:
            ctx (SynthesisContext): Reads ``images``, ``data_samples`` (with
                ``gt_instances``) and ``teacher``.

        Returns:
            Tensor: () weighted loss.
        """
        if ctx.data_samples is None:
            raise ValueError('DetTaskPrior needs ctx.data_samples carrying the sampled layout as gt_instances; '
                             'give the distiller a layout sampler (detection only)')
        return self.loss_weight * sum_losses(ctx.teacher.loss(ctx.images, ctx.data_samples))
