"""Image-space priors: total variation and L2 norm (DeepInversion)."""
import torch
from torch import Tensor

from mmdfkd.registry import MODELS

from .base import BasePrior, SynthesisContext


@MODELS.register_module()
class TVPrior(BasePrior):
    """Anisotropic total variation of the generator output in [0, 1].

    With ``x = ctx.pixels / 255`` and neighbour differences
    ``dx = x[..., :, 1:] - x[..., :, :-1]``, ``dy = x[..., 1:, :] - x[..., :-1, :]``::

        'l2': mean(dx ** 2) + mean(dy ** 2)
        'l1': mean(|dx|) + mean(|dy|)

    Args:
        norm (str): ``'l2'`` or ``'l1'``. Default: ``'l2'``.
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    def __init__(self, norm: str = 'l2', loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        if norm not in ('l1', 'l2'):
            raise ValueError(f"TVPrior norm must be 'l1' or 'l2', got {norm!r}")
        self.norm = norm

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Compute the weighted total variation.

        Args:
            ctx (SynthesisContext): Reads ``pixels`` (N, 3, H, W) in [0, 255].

        Returns:
            Tensor: () weighted loss.
        """
        x = ctx.pixels / 255
        dx = x[..., :, 1:] - x[..., :, :-1]
        dy = x[..., 1:, :] - x[..., :-1, :]
        if self.norm == 'l2':
            tv = dx.pow(2).mean() + dy.pow(2).mean()
        else:
            tv = dx.abs().mean() + dy.abs().mean()
        return self.loss_weight * tv


@MODELS.register_module()
class L2Prior(BasePrior):
    """Mean squared value of the normalised teacher input, ``mean(ctx.images ** 2)``.

    Keeps synthetic inputs within the range the teacher was trained on.

    Args:
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Compute the weighted mean square.

        Args:
            ctx (SynthesisContext): Reads ``images`` (N, 3, H, W), normalised.

        Returns:
            Tensor: () weighted loss.
        """
        return self.loss_weight * torch.mean(ctx.images**2)
