"""Reduce an MMDetection loss dict to one scalar, by the rule of MMEngine's ``BaseModel.parse_losses``."""
from typing import Dict, List, Union

from torch import Tensor


def sum_loss_dict(losses: Dict[str, Union[Tensor, List[Tensor]]], owner: str,
                  source: str = 'model.loss(images, data_samples)') -> Tensor:
    """The total of a ``model.loss(...)`` dict.

    Every entry whose key contains ``'loss'`` counts (``loss_cls``,
    ``loss_rpn_bbox``, DETR's per-decoder ``d0.loss_cls``): a tensor by its
    mean, a list by the sum of its items' means. Other entries (``acc``) are
    ignored.

    Args:
        losses (dict[str, Tensor | list[Tensor]]): what ``loss()`` returned.
        owner (str): who asks, for the error message.
        source (str): the call that made ``losses``, for the error message.

    Returns:
        Tensor: () the total.

    Raises:
        ValueError: no entry is a loss.
    """
    terms = []
    for key, value in losses.items():
        if 'loss' in key:
            terms.extend(v.mean() for v in (value if isinstance(value, (list, tuple)) else [value]))
    if not terms:
        raise ValueError(f'{owner} found no loss entries among {sorted(losses)}: pass the dict returned by '
                         f"{source}, whose loss keys contain 'loss'.")
    return sum(terms)
