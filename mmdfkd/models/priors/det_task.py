"""Detection-task prior of DIODE (Chawla et al., WACV 2021)."""
from torch import Tensor

from mmdfkd.models.losses.loss_dict import sum_loss_dict
from mmdfkd.models.tasks import DetectionTask
from mmdfkd.registry import MODELS

from .base import BasePrior, SynthesisContext


@MODELS.register_module()
class DetTaskPrior(BasePrior):
    """The teacher's own detection loss against the sampled layout.

    The teacher's MMDetection loss (``teacher.loss(images, data_samples)``)
    with the sampled boxes as ground truth, summed over its loss entries
    (:func:`~mmdfkd.models.losses.loss_dict.sum_loss_dict`). For a one-stage
    teacher it is computed from the head outputs the generator step already
    recorded (:meth:`DetectionTask.loss`), without a second teacher
    forward; a two-stage teacher runs its own ``loss``. The teacher's parameters
    have no gradients, but the loss back-propagates to the images, so the
    generator learns to draw objects where the layout puts them.

    Args:
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Compute the weighted teacher detection loss.

        Args:
            ctx (SynthesisContext): Reads ``images``, ``data_samples`` (with
                ``gt_instances``), ``teacher`` and, when recorded, the raw
                head outputs in ``taps_T``.

        Returns:
            Tensor: () weighted loss.
        """
        if ctx.data_samples is None:
            raise ValueError('DetTaskPrior needs ctx.data_samples carrying the sampled layout as gt_instances; '
                             'give the distiller a layout sampler (detection only)')
        out = ctx.taps_T if '_inputs' in ctx.taps_T else dict(ctx.taps_T, _inputs=ctx.images)
        losses = DetectionTask().loss(ctx.teacher, out, ctx.data_samples)
        return self.loss_weight * sum_loss_dict(losses, 'DetTaskPrior', 'teacher.loss(images, data_samples)')
