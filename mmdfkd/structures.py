"""Data structures shared by the classification models, datasets and metrics."""
from typing import Union

import torch
from mmengine.structures import BaseDataElement


class ClsDataSample(BaseDataElement):
    """One image's classification annotation and prediction.

    A plain :class:`~mmengine.structures.BaseDataElement` with three
    conventional data fields, set through the helpers below:

    - ``gt_label`` (Tensor): ``()`` int64, the ground-truth class index.
    - ``pred_score`` (Tensor): ``(num_classes,)`` float, softmax scores.
    - ``pred_label`` (Tensor): ``()`` int64, ``pred_score.argmax()``.

    Meta information (``img_path``, ``ori_shape``, ``img_shape``, ...) lives in
    the metainfo, as in MMDetection's ``DetDataSample``.
    """

    def set_gt_label(self, label: Union[int, torch.Tensor]) -> 'ClsDataSample':
        """Set ``gt_label`` from an int or a one-element tensor.

        Args:
            label (int | Tensor): class index; a tensor must hold one element.

        Returns:
            ClsDataSample: ``self``, for chaining.
        """
        self.gt_label = torch.as_tensor(label, dtype=torch.long).reshape(())
        return self

    def set_pred_score(self, score: torch.Tensor) -> 'ClsDataSample':
        """Set ``pred_score`` and derive ``pred_label`` from it.

        Args:
            score (Tensor): ``(num_classes,)`` class probabilities.

        Returns:
            ClsDataSample: ``self``, for chaining.
        """
        if score.dim() != 1:
            raise ValueError(f'pred_score must have shape (num_classes,), got {tuple(score.shape)}')
        self.pred_score = score
        self.pred_label = score.argmax()
        return self


def stack_gt_labels(data_samples: list) -> torch.Tensor:
    """Collect the ground-truth labels of a batch.

    Args:
        data_samples (list[ClsDataSample]): N samples, each with ``gt_label``.

    Returns:
        Tensor: ``(N,)`` int64 labels, on the device of the samples' labels.
    """
    missing = [i for i, sample in enumerate(data_samples) if 'gt_label' not in sample]
    if missing:
        raise ValueError(f'data samples {missing} have no gt_label; pack them with '
                         "PackClsInputs (type='PackClsInputs') or call ClsDataSample.set_gt_label")
    return torch.stack([sample.gt_label for sample in data_samples])
