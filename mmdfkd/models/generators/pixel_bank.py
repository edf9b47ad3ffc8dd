"""Model inversion (DeepInversion / DIODE): the images are the parameters."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdfkd.registry import MODELS

from .base import BaseGenerator


@MODELS.register_module()
class PixelBankGenerator(BaseGenerator):
    """A bank of ``batch_size`` images optimised directly (model inversion).

    The parameter ``logits`` (B, 3, H, W) holds pre-sigmoid pixels; the output
    is ``255 * sigmoid(logits)``. Each batch starts from smooth random colour
    noise: Gaussian noise at ``1 / init_downsample`` resolution, bilinearly
    upsampled, scaled by ``init_std`` (in logit space). The distiller calls
    :meth:`reset` before each batch (``holds_batch`` is True) and then
    runs its inner optimisation steps on ``logits``. :meth:`reset` writes in
    place, so an optimizer built on ``logits`` keeps pointing at it; resetting
    the optimizer's own state (Adam moments) is the distiller's job.

    Args:
        img_size (int | Sequence[int]): ``S`` or ``(H, W)``.
        batch_size (int): Images in the bank ``B``; ``forward`` must ask for
            exactly this many.
        init_downsample (int): Downsampling factor of the initial noise; 1
            gives white noise. Default: 8.
        init_std (float): Standard deviation of the initial logits.
            Default: 1.0.
        num_classes (int, optional): Accepted for a uniform config interface;
            the pixel bank ignores layouts. Default: None.
        param_downsample (int): Store the bank at ``1 / param_downsample`` of
            the image size and upsample it bilinearly in :meth:`forward`: a
            smoothness prior built into the parametrisation, and fewer
            parameters to optimise (DIODE-style multi-resolution). Default: 1.
    """

    holds_batch = True

    def __init__(self,
                 img_size: Union[int, Sequence[int]],
                 batch_size: int,
                 init_downsample: int = 8,
                 init_std: float = 1.0,
                 num_classes: Optional[int] = None,
                 param_downsample: int = 1) -> None:
        super().__init__(img_size, num_classes=None)
        if batch_size < 1 or init_downsample < 1 or param_downsample < 1:
            raise ValueError('batch_size, init_downsample and param_downsample must be >= 1, got '
                             f'{batch_size}, {init_downsample} and {param_downsample}')
        self.batch_size = batch_size
        self.init_downsample = init_downsample
        self.init_std = init_std
        self.param_size = tuple(max(1, side // param_downsample) for side in self.img_size)
        self.logits = nn.Parameter(torch.empty(batch_size, 3, *self.param_size))
        self.reset()

    @torch.no_grad()
    def reset(self) -> None:
        """Refill the bank with fresh smooth noise (in place, global RNG)."""
        height, width = self.img_size
        low = (max(1, height // self.init_downsample), max(1, width // self.init_downsample))
        noise = torch.randn(self.batch_size, 3, *low, device=self.logits.device)
        noise = F.interpolate(noise, size=self.param_size, mode='bilinear', align_corners=False)
        # Bilinear upsampling shrinks the variance; restore the requested std.
        noise = noise / noise.std().clamp(min=1e-6) * self.init_std
        self.logits.copy_(noise)

    @torch.no_grad()
    def refine_from(self, pixels: torch.Tensor) -> None:
        """Start the first ``len(pixels)`` images of the bank from given images.

        Args:
            pixels (Tensor): (k, 3, H, W) in [0, 255], k <= the bank size;
                resized to the bank's parameter size.
        """
        if pixels.shape[0] > self.batch_size:
            raise ValueError(f'refine_from got {pixels.shape[0]} images for a bank of {self.batch_size}.')
        probs = (pixels.to(self.logits) / 255).clamp(1e-3, 1 - 1e-3)
        logits = torch.log(probs / (1 - probs))
        if tuple(logits.shape[-2:]) != self.param_size:
            logits = F.interpolate(logits, size=self.param_size, mode='area')
        self.logits[:pixels.shape[0]].copy_(logits)

    def forward(self, batch_size: int, layout: Optional[List[dict]] = None) -> torch.Tensor:
        """Return the bank's images; ``layout`` is ignored.

        Args:
            batch_size (int): Must equal the bank size ``B``.
            layout (list[dict], optional): Ignored.

        Returns:
            Tensor: (B, 3, H, W) float in [0, 255].
        """
        if batch_size != self.batch_size:
            raise ValueError(f'PixelBankGenerator holds {self.batch_size} images but {batch_size} were requested; '
                             f'set the generator\'s batch_size to the synthesis batch size ({batch_size})')
        logits = self.logits
        if self.param_size != tuple(self.img_size):
            logits = F.interpolate(logits, size=self.img_size, mode='bilinear', align_corners=False)
        return 255 * torch.sigmoid(logits)
