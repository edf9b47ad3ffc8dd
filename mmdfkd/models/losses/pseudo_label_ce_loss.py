"""Hard-label distillation: cross-entropy against the teacher's argmax."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdfkd.registry import MODELS


@MODELS.register_module()
class PseudoLabelCELoss(nn.Module):
    """Cross-entropy of the student logits against the teacher's top class.

    ``CE(S, argmax_k T)``, averaged over the samples. This is the ``L_CE``
    term of data-free ViT distillation (arXiv 2408.05952): synthetic images
    have no labels, so the teacher's prediction stands in for one. Inputs
    with extra leading dimensions (N, ..., K) count every row as a sample.

    Args:
        loss_weight (float): Multiplier of the loss. Default: 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, preds_S: torch.Tensor, preds_T: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            preds_S (Tensor): Student logits, (N, K) or (N, ..., K).
            preds_T (Tensor): Teacher logits or probabilities, same shape;
                only their argmax is used (no gradient flows to the teacher).

        Returns:
            Tensor: Scalar loss, multiplied by ``loss_weight``.
        """
        if preds_S.shape != preds_T.shape:
            raise ValueError(f'PseudoLabelCELoss: student logits {tuple(preds_S.shape)} and teacher logits '
                             f'{tuple(preds_T.shape)} differ; both heads need the same num_classes (the last '
                             'dimension) and the same batch.')
        num_classes = preds_S.shape[-1]
        labels = preds_T.detach().reshape(-1, num_classes).argmax(dim=-1)
        return self.loss_weight * F.cross_entropy(preds_S.reshape(-1, num_classes), labels)
