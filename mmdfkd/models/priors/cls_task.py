"""Class-targeted inversion prior (DeepInversion, Yin et al., CVPR 2020) for classifiers."""
import torch
import torch.nn.functional as F
from torch import Tensor

from mmdfkd.registry import MODELS

from .base import BasePrior, SynthesisContext, get_tap


@MODELS.register_module()
class ClsTaskPrior(BasePrior):
    """Cross-entropy of the teacher's logits against a sampled target class.

    The classification counterpart of :class:`DetTaskPrior`: each synthetic
    image carries a target class, and the generator learns to draw images
    the teacher assigns to it, so every class is synthesised in the
    proportions the sampler chooses (DAFL's argmax confidence, by contrast,
    only sharpens whatever class the teacher already prefers, and may never
    reach some classes). Targets come from the layout, as in detection: a
    :class:`~mmdfkd.models.generators.LayoutSampler` that draws one
    full-image box per image, e.g. for 32x32 images
    ``LayoutSampler(min_size=32, max_size=32, max_objects=1,
    aspect_range=(1, 1))``, labels each image with a uniform class; a
    generator built with ``num_classes=K`` is then class-conditional (the
    layout renders to constant one-hot maps), and the pixel bank simply
    optimises each image towards its label.

    ``loss = loss_weight * mean_i CE(logits_T[i], target_i)``, with the
    target of image ``i`` the first label of its layout.

    Args:
        tap (str): Name in ``ctx.taps_T`` of the (N, K) logits.
            Default: ``'logits'``.
        label_smoothing (float): Label smoothing of the cross-entropy; a
            teacher trained with it cannot reach a one-hot output.
            Default: 0.0.
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    def __init__(self, tap: str = 'logits', label_smoothing: float = 0.0, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        self.tap = tap
        self.label_smoothing = label_smoothing

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Compute the weighted cross-entropy.

        Args:
            ctx (SynthesisContext): Reads ``taps_T[tap]`` (N, K) and
                ``layout`` (N dicts with ``'labels'`` (k >= 1,)).

        Returns:
            Tensor: () weighted loss.
        """
        logits = get_tap(ctx.taps_T, self.tap, type(self).__name__)
        if ctx.layout is None:
            raise ValueError('ClsTaskPrior needs a target class per image: add layout_sampler=dict('
                             "type='LayoutSampler', min_size=S, max_size=S, max_objects=1, aspect_range=(1, 1)) "
                             'with S the image side to the distiller')
        if len(ctx.layout) != len(logits):
            raise ValueError(f'ClsTaskPrior: the teacher scored {len(logits)} images but {len(ctx.layout)} layouts '
                             'were given; the layout sampler must draw one layout per image')
        if any(len(lay['labels']) == 0 for lay in ctx.layout):
            raise ValueError('ClsTaskPrior: an image has no label in its layout (the augmentation dropped its box?); '
                             'draw one full-image box per image and keep DifferentiableAugment.min_box_size small')
        targets = torch.stack([lay['labels'][0] for lay in ctx.layout]).to(logits.device, torch.long)
        num_classes = logits.shape[-1]
        if targets.min() < 0 or targets.max() >= num_classes:
            raise ValueError(f'ClsTaskPrior: layout labels must lie in [0, {num_classes}) (the teacher\'s classes), '
                             f'got {targets.tolist()}')
        return self.loss_weight * F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)
