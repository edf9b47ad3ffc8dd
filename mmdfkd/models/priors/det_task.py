"""Detection-task prior of DIODE (Chawla et al., WACV 2021)."""
from torch import Tensor

from mmdfkd.models.losses.loss_dict import sum_loss_dict
from mmdfkd.registry import MODELS
from .base import BasePrior, SynthesisContext


@MODELS.register_module()
class DetTaskPrior(BasePrior):
    """The teacher's own detection loss against the sampled layout.

    Calls ``ctx.teacher.loss(ctx.images, ctx.data_samples)`` — the teacher's
    MMDetection head losses with the sampled boxes as ground truth — and sums
    its loss entries (:func:`~mmdfkd.models.losses.loss_dict.sum_loss_dict`). The teacher's parameters
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
        return self.loss_weight * sum_loss_dict(ctx.teacher.loss(ctx.images, ctx.data_samples), 'DetTaskPrior',
                                                 'teacher.loss(images, data_samples)')
