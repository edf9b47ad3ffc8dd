"""The interface of image priors and the context they read."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import torch.nn as nn
from torch import Tensor


@dataclass
class SynthesisContext:
    """Everything a prior may look at during one generator update.

    Attributes:
        images (Tensor): (N, 3, H, W) normalised teacher inputs after
            augmentation; requires grad.
        pixels (Tensor): (N, 3, H, W) generator output in [0, 255], before
            augmentation and normalisation.
        taps_T (dict): name -> teacher tensor (or tuple / list of tensors)
            recorded during this forward.
        taps_S (dict): name -> student tensor, same keys where both are
            recorded; may be empty.
        teacher (nn.Module): The frozen teacher (eval mode, no parameter grads).
        layout (list[dict] | None): The sampled (augmented) layout, one dict
            per image with ``'bboxes'`` (k, 4) xyxy pixels and ``'labels'``
            (k,) long; ``None`` without layouts.
        data_samples (list | None): MMDetection ``DetDataSample`` list carrying
            the layout as ``gt_instances`` (detection), else ``None``.
    """

    images: Tensor
    pixels: Tensor
    taps_T: dict
    taps_S: dict
    teacher: nn.Module
    layout: Optional[list] = None
    data_samples: Optional[list] = None


class BasePrior(nn.Module):
    """Base class of losses on synthetic images, minimised by the generator.

    ``forward(ctx)`` returns a scalar already multiplied by ``loss_weight``.

    Capabilities, declared by subclasses as class attributes:

    * ``needs_student``: the prior reads ``ctx.taps_S``, so the distiller runs
      the student on the synthetic batch during the generator update.
    * ``adversarial``: the prior works against the student; the distiller
      switches it on only after ``adv_warmup_iters``.

    Args:
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    needs_student: bool = False
    adversarial: bool = False

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def setup(self, teacher: nn.Module) -> None:
        """Prepare for a teacher (e.g. register hooks); called once by the distiller.

        Args:
            teacher (nn.Module): The frozen teacher.
        """

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Compute the weighted loss.

        Args:
            ctx (SynthesisContext): The current synthesis step.

        Returns:
            Tensor: () weighted loss.
        """
        raise NotImplementedError


def get_tap(taps: dict, name: str, owner: str, side: str = 'taps_T') -> Union[Tensor, Sequence[Tensor]]:
    """Look up a tap, failing with a message that says how to record it.

    Args:
        taps (dict): ``ctx.taps_T`` or ``ctx.taps_S``.
        name (str): Tap name.
        owner (str): Name of the calling prior, for the message.
        side (str): ``'taps_T'`` or ``'taps_S'``, for the message.

    Returns:
        Tensor | Sequence[Tensor]: The recorded value.
    """
    if name not in taps:
        raise KeyError(f'{owner} needs {side}[{name!r}] but only {sorted(taps)} were recorded; add a recorder '
                       f'named {name!r} to the distiller or set {owner}(tap=...) to a recorded name')
    return taps[name]


def as_tensor_list(value: Union[Tensor, Sequence[Tensor]]) -> List[Tensor]:
    """Wrap a single tensor in a list; pass lists and tuples through.

    Args:
        value (Tensor | Sequence[Tensor]): A tap value.

    Returns:
        list[Tensor]: The tensors.
    """
    return [value] if isinstance(value, Tensor) else list(value)
