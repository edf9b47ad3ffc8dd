"""Distillation losses: ``forward(preds_S, preds_T)`` -> weighted scalar."""
from .attention_kd_loss import AttentionKDLoss
from .dense_head_kd_loss import DenseHeadKDLoss
from .feature_kd_loss import FeatureKDLoss
from .kl_div_loss import KLDivLoss
from .pseudo_label_ce_loss import PseudoLabelCELoss
from .pseudo_label_det_loss import PseudoLabelDetLoss

__all__ = [
    'AttentionKDLoss', 'DenseHeadKDLoss', 'FeatureKDLoss', 'KLDivLoss', 'PseudoLabelCELoss', 'PseudoLabelDetLoss'
]
