"""Logit distillation: temperature-scaled KL divergence (Hinton et al., 2015)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdfkd.registry import MODELS


@MODELS.register_module()
class KLDivLoss(nn.Module):
    """``tau**2 * KL(softmax(T / tau) || softmax(S / tau))``, mean over samples.

    The KL divergence sums over the ``K`` classes of each sample (it is a
    divergence between two distributions) and is averaged over the samples
    ("batchmean"), so the value does not grow with the batch. Inputs with
    extra leading dimensions (N, ..., K) count every row of K logits as a
    sample. The ``tau**2`` factor keeps gradient magnitudes comparable across
    temperatures. The teacher logits are not detached: the same loss can
    measure the adversarial discrepancy that the generator maximises.

    Args:
        tau (float): Softmax temperature. Default: 1.0.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
    """

    def __init__(self, tau: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'KLDivLoss needs tau > 0, got {tau}.')
        self.tau = tau
        self.loss_weight = loss_weight

    def forward(self, preds_S: torch.Tensor, preds_T: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            preds_S (Tensor): Student logits, (N, K) or (N, ..., K).
            preds_T (Tensor): Teacher logits, same shape.

        Returns:
            Tensor: Scalar loss, multiplied by ``loss_weight``.
        """
        if preds_S.shape != preds_T.shape:
            raise ValueError(f'KLDivLoss: student logits {tuple(preds_S.shape)} and teacher logits '
                             f'{tuple(preds_T.shape)} differ; both heads need the same num_classes (the last '
                             'dimension) and the same batch.')
        num_classes = preds_S.shape[-1]
        log_p_S = F.log_softmax(preds_S.reshape(-1, num_classes) / self.tau, dim=-1)
        log_p_T = F.log_softmax(preds_T.reshape(-1, num_classes) / self.tau, dim=-1)
        kl = F.kl_div(log_p_S, log_p_T, reduction='batchmean', log_target=True)
        return self.loss_weight * self.tau**2 * kl
