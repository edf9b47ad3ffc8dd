"""Feature-statistics prior of DeepInversion / DIODE."""
import warnings
from typing import Dict, List

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmdfkd.registry import MODELS

from .base import BasePrior, SynthesisContext


@MODELS.register_module()
class NormStatsPrior(BasePrior):
    """Match batch statistics of synthetic features to the teacher's BN running statistics.

    :meth:`setup` registers a forward hook on every batch-norm layer of the
    teacher that tracks running statistics (``BatchNorm1d/2d/3d``,
    ``SyncBatchNorm`` and mmcv/mmengine subclasses). On each teacher forward
    the hook computes, from the layer's input, the per-channel batch mean
    ``μ`` and (biased) variance ``σ²`` over every axis but the channel axis,
    and stores ``||μ - running_mean||_2 + ||σ² - running_var||_2``.
    :meth:`forward` returns ``loss_weight`` times the sum over layers of the
    latest forward, then clears it.

    GroupNorm and LayerNorm are skipped: they normalise each sample by its
    own statistics and keep no record of the training data, so there is
    nothing to match. A teacher without batch norm (e.g. a ViT) triggers one
    warning at :meth:`setup` and the prior then returns 0.

    Args:
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        self._handles: List[torch.utils.hooks.RemovableHandle] = []
        self._losses: Dict[str, Tensor] = {}
        self._is_setup = False

    def setup(self, teacher: nn.Module) -> None:
        """Hook the teacher's batch-norm layers (replacing hooks of an earlier call).

        Args:
            teacher (nn.Module): The frozen teacher.
        """
        self.remove_hooks()
        for name, module in teacher.named_modules():
            if isinstance(module, _BatchNorm) and module.track_running_stats and module.running_mean is not None:
                self._handles.append(module.register_forward_hook(self._make_hook(name)))
        self._is_setup = True
        if not self._handles:
            warnings.warn(f'NormStatsPrior: the teacher {type(teacher).__name__} has no batch-norm layer with '
                          'running statistics, so this prior is always 0 (harmless: the shared recipes keep it for '
                          'teachers that have batch norm, e.g. hybrid ViTs)')

    def remove_hooks(self) -> None:
        """Detach all hooks from the teacher."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._losses = {}

    def _make_hook(self, name: str):

        def hook(module: _BatchNorm, inputs: tuple, output: Tensor) -> None:
            x = inputs[0]
            dims = [d for d in range(x.dim()) if d != 1]
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)
            self._losses[name] = (torch.linalg.vector_norm(mean - module.running_mean) +
                                  torch.linalg.vector_norm(var - module.running_var))

        return hook

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Sum the statistics losses of the latest teacher forward.

        Args:
            ctx (SynthesisContext): Only ``images`` is read (for device and
                dtype); the statistics come from the hooks.

        Returns:
            Tensor: () weighted loss.
        """
        if not self._is_setup:
            raise RuntimeError('NormStatsPrior.setup(teacher) was not called; the distiller must call '
                               'setup on every prior before the first teacher forward')
        if not self._handles:
            return ctx.images.new_zeros(())
        if not self._losses:
            raise RuntimeError('NormStatsPrior saw no teacher forward since its last call; run the teacher '
                               'on ctx.images before evaluating the priors')
        loss = torch.stack(list(self._losses.values())).sum()
        self._losses = {}
        return self.loss_weight * loss
