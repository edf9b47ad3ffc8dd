"""ClsTaskPrior: the teacher's CE against each image's layout class, by hand; the errors name the fix."""
import math

import pytest
import torch
import torch.nn as nn

from mmdfkd.models.priors import ClsTaskPrior, SynthesisContext
from mmdfkd.registry import MODELS


def ctx_with(logits, layout):
    images = torch.zeros(len(logits), 3, 4, 4)
    return SynthesisContext(images=images, pixels=images + 128, taps_T=dict(logits=logits), taps_S={},
                            teacher=nn.Identity(), layout=layout)


def box(*labels):
    labels = torch.tensor(labels, dtype=torch.long)
    return dict(bboxes=torch.tensor([[0., 0., 4., 4.]]).repeat(len(labels), 1), labels=labels)


def test_cls_task_prior_hand_computed_and_grad():
    # Image 0: logits (0, ln 3) -> p = (1/4, 3/4), target 1 -> -ln(3/4).
    # Image 1: logits (0, 0)    -> p = (1/2, 1/2), target 0 -> ln 2. Only the first label of a layout counts.
    logits = torch.tensor([[0., math.log(3.)], [0., 0.]], requires_grad=True)
    prior = ClsTaskPrior(loss_weight=2.0)
    loss = prior(ctx_with(logits, [box(1), box(0, 1)]))
    expected = 2.0 * (-math.log(0.75) + math.log(2.)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # d/dz CE = softmax - onehot, averaged over 2 images, times the weight.
    torch.testing.assert_close(logits.grad, 2.0 * torch.tensor([[0.25, -0.25], [-0.5, 0.5]]) / 2)


def test_cls_task_prior_label_smoothing_and_tap():
    logits = torch.tensor([[0., math.log(3.)]])
    # Smoothing 0.5 over 2 classes: target (1/4, 3/4) -> -(1/4 ln 1/4 + 3/4 ln 3/4).
    loss = ClsTaskPrior(tap='out', label_smoothing=0.5)(SynthesisContext(
        images=torch.zeros(1, 3, 2, 2), pixels=torch.zeros(1, 3, 2, 2), taps_T=dict(out=logits), taps_S={},
        teacher=nn.Identity(), layout=[box(1)]))
    assert loss.item() == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), rel=1e-6)


def test_cls_task_prior_errors_name_the_fix():
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="layout_sampler=dict.*max_objects=1"):
        ClsTaskPrior()(ctx_with(logits, None))
    with pytest.raises(ValueError, match='no label in its layout.*min_box_size'):
        ClsTaskPrior()(ctx_with(logits, [box(1), box()]))
    with pytest.raises(ValueError, match='scored 2 images but 1 layouts'):
        ClsTaskPrior()(ctx_with(logits, [box(1)]))
    with pytest.raises(ValueError, match=r'labels must lie in \[0, 3\)'):
        ClsTaskPrior()(ctx_with(logits, [box(1), box(3)]))
    with pytest.raises(KeyError, match=r"taps_T\['logits'\].*tap="):
        ClsTaskPrior()(SynthesisContext(images=torch.zeros(1, 3, 2, 2), pixels=torch.zeros(1, 3, 2, 2), taps_T={},
                                        taps_S={}, teacher=nn.Identity(), layout=[box(0)]))


def test_cls_task_prior_registered():
    prior = MODELS.build(dict(type='ClsTaskPrior', loss_weight=0.5))
    assert isinstance(prior, ClsTaskPrior) and prior.loss_weight == 0.5
