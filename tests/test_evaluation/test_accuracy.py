import pytest
import torch

from mmdfkd.registry import METRICS
from mmdfkd.structures import ClsDataSample


def _samples():
    # gt:         0    1    2    3
    # top-1:      0    2    2    0     -> 2 of 4 right
    # top-2 adds: 1    1    0    2     -> sample 1 also right: 3 of 4
    scores = torch.tensor([[0.7, 0.2, 0.1, 0.0], [0.1, 0.3, 0.6, 0.0], [0.3, 0.1, 0.6, 0.0], [0.5, 0.1, 0.3, 0.1]])
    return [ClsDataSample().set_gt_label(i).set_pred_score(s).to_dict() for i, s in enumerate(scores)]


def test_top1_and_top2_by_hand():
    metric = METRICS.build(dict(type='ClsAccuracy', topk=(1, 2)))
    samples = _samples()
    metric.process(None, samples[:3])
    metric.process(None, samples[3:])
    assert metric.evaluate(size=4) == {'accuracy/top1': 0.5, 'accuracy/top2': 0.75}


def test_top1_from_pred_label_only():
    metric = METRICS.build(dict(type='ClsAccuracy'))
    metric.process(None, [dict(gt_label=torch.tensor(3), pred_label=torch.tensor(3))])
    metric.process(None, [dict(gt_label=torch.tensor(3), pred_label=torch.tensor(1))])
    assert metric.evaluate(size=2) == {'accuracy/top1': 0.5}


def test_topk_needs_scores():
    metric = METRICS.build(dict(type='ClsAccuracy', topk=2))
    with pytest.raises(KeyError, match='pred_score'):
        metric.process(None, [dict(gt_label=torch.tensor(3), pred_label=torch.tensor(3))])
