"""DifferentiableAugment: shapes, gradients, box bookkeeping."""
import pytest
import torch

from mmdfkd.models.augment import DifferentiableAugment


def _layout():
    return [dict(bboxes=torch.tensor([[4., 4., 20., 24.], [40., 40., 46., 47.]]), labels=torch.tensor([3, 1])),
            dict(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))]


@pytest.mark.parametrize('scale_range', [(0.7, 1.0), (0.9, 1.2), (1.0, 1.0)])
def test_shapes_grad_and_box_validity(scale_range):
    aug = DifferentiableAugment(jitter=6, flip=True, scale_range=scale_range)
    for seed in range(20):
        torch.manual_seed(seed)
        x = torch.rand(2, 3, 48, 48, requires_grad=True)
        out, layout = aug(x, _layout())
        assert out.shape == x.shape
        out.sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
        assert len(layout) == 2
        for item in layout:
            boxes = item['bboxes']
            assert boxes.shape[1] == 4 and len(item['labels']) == len(boxes)
            assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
            assert (boxes[:, 2] <= 48).all() and (boxes[:, 3] <= 48).all()
            assert ((boxes[:, 2:] - boxes[:, :2]) >= 4).all()


def test_boxes_follow_the_content():
    """A bright square stays inside its transformed box."""
    x = torch.zeros(1, 1, 64, 64)
    x[..., 20:36, 10:30] = 1.0
    layout = [dict(bboxes=torch.tensor([[10., 20., 30., 36.]]), labels=torch.tensor([0]))]
    aug = DifferentiableAugment(jitter=8, flip=True, scale_range=(0.6, 1.3))
    for seed in range(20):
        torch.manual_seed(seed)
        out, new = aug(x, layout)
        if len(new[0]['bboxes']) == 0:
            continue
        x1, y1, x2, y2 = new[0]['bboxes'][0].tolist()
        mask = torch.zeros_like(out, dtype=torch.bool)
        mask[..., max(0, int(y1) - 1):int(y2) + 2, max(0, int(x1) - 1):int(x2) + 2] = True
        assert out[~mask].abs().max() < 1e-4  # nothing bright outside the (padded) box
        inner = out[..., int(y1) + 2:int(y2) - 2, int(x1) + 2:int(x2) - 2]
        assert inner.numel() == 0 or inner.min() > 0.99


def test_drops_boxes_that_leave_the_image():
    torch.manual_seed(0)
    aug = DifferentiableAugment(jitter=0, scale_range=(0.5, 0.5))
    layout = [dict(bboxes=torch.tensor([[0., 0., 64., 64.], [0., 0., 3., 3.]]), labels=torch.tensor([0, 1]))]
    _, new = aug(torch.zeros(1, 3, 64, 64), layout)
    assert new[0]['labels'].tolist() == [0]
    assert torch.allclose(new[0]['bboxes'], torch.tensor([[0., 0., 64., 64.]]))


def test_flip_and_jitter_exact():
    x = torch.arange(16.).view(1, 1, 4, 4)
    layout = [dict(bboxes=torch.tensor([[0., 0., 2., 1.]]), labels=torch.tensor([0]), extra='kept')]
    aug = DifferentiableAugment(jitter=0, flip=True, scale_range=(1, 1), min_box_size=1)
    torch.manual_seed(0)
    flipped = False
    for _ in range(10):
        out, new = aug(x, layout)
        assert new[0]['extra'] == 'kept'
        if not torch.equal(out, x):
            flipped = True
            assert torch.equal(out, x.flip(3))
            assert new[0]['bboxes'].tolist() == [[2., 0., 4., 1.]]
    assert flipped


def test_disabled_and_no_layout():
    x = torch.rand(2, 3, 16, 16)
    assert DifferentiableAugment(enabled=False)(x)[0] is x
    out, layout = DifferentiableAugment()(x)
    assert layout is None and out.shape == x.shape
    with pytest.raises(ValueError, match='scale_range'):
        DifferentiableAugment(scale_range=(0.0, 1.0))


def test_built_from_registry():
    from mmengine.registry import init_default_scope

    from mmdfkd.registry import MODELS
    init_default_scope('mmdfkd')
    aug = MODELS.build(dict(type='DifferentiableAugment', jitter=2, flip=True))
    assert isinstance(aug, DifferentiableAugment) and aug.flip
