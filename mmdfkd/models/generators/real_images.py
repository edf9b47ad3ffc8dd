"""Real images in place of a generator: the 'distil on real data' reference. NOT data-free."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from mmdfkd.registry import MODELS

from .base import BaseGenerator


@MODELS.register_module()
class RealImageGenerator(BaseGenerator):
    """Draws random images of a real dataset; used by the pipeline's baseline (b).

    It turns a :class:`~mmdfkd.models.DataFreeDistiller` into ordinary
    teacher-student distillation on real images: the same distillation losses
    and pseudo labels, so the gap to the data-free student measures what
    synthesis loses. Annotations are never used (the pipeline's transforms
    may load them; the distiller only sees pixels). Use it with
    ``generator_steps=0``, no priors, ``memory_capacity=0`` and
    ``fresh_student_batches=True`` (every student step draws a new batch).

    Args:
        dataset (dict): a dataset config whose items have ``inputs`` (3, H, W)
            uint8 BGR tensors, as mmdet's ``PackDetInputs`` and mmdfkd's
            ``PackClsInputs`` give them; built on first use.
        img_size (int | Sequence[int]): output (H, W); other sizes are resized
            bilinearly.
        num_classes (int, optional): unused; layouts are ignored.
    """

    def __init__(self, dataset: dict, img_size: Union[int, Sequence[int]], num_classes: Optional[int] = None) -> None:
        super().__init__(img_size, num_classes)
        self.dataset_cfg = dataset
        self._dataset = None
        # MMEngine builds an optimizer for every generator; this keeps its parameter list non-empty.
        # It takes no part in the output and never receives a gradient.
        self.unused = nn.Parameter(torch.zeros(1), requires_grad=False)

    @property
    def dataset(self):
        if self._dataset is None:
            from mmdfkd.registry import DATASETS
            self._dataset = DATASETS.build(self.dataset_cfg)
        return self._dataset

    def forward(self, batch_size: int, layout: Optional[List[dict]] = None) -> torch.Tensor:
        """``batch_size`` random dataset images (global torch RNG), (N, 3, H, W) RGB float in [0, 255]."""
        indices = torch.randint(len(self.dataset), (batch_size, )).tolist()
        images = []
        for index in indices:
            img = self.dataset[index]['inputs'].float().flip(0)  # BGR -> RGB, as generators output
            if tuple(img.shape[-2:]) != tuple(self.img_size):
                img = F.interpolate(img[None], size=self.img_size, mode='bilinear', align_corners=False)[0]
            images.append(img)
        return torch.stack(images).to(self.unused.device)
