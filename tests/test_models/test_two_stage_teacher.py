"""Two-stage (Mask R-CNN) teachers: their own loss and detections on the step's features, and a distillation."""
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdfkd.models.tasks import DetectionTask, add_box_masks
from mmdfkd.registry import MODELS
from mmdfkd.testing import build_with_optim, changed, det_distiller_cfg, snapshot, tiny_fcos, tiny_mask_rcnn

init_default_scope('mmdfkd')

LAYOUT = [dict(bboxes=torch.tensor([[4., 6., 30., 40.]]), labels=torch.tensor([3])),
          dict(bboxes=torch.tensor([[10.5, 10., 50., 44.2], [0., 0., 20., 20.]]), labels=torch.tensor([1, 7]))]


def _forward(model, inputs):
    out = DetectionTask().forward(model, inputs)
    out['_inputs'] = inputs
    return out


def test_box_masks_fill_each_box_and_only_for_a_mask_head():
    inputs = torch.zeros(2, 3, 64, 64)
    samples = add_box_masks(MODELS.build(tiny_mask_rcnn()), DetectionTask.data_samples(inputs, LAYOUT))
    masks = samples[1].gt_instances.masks.masks
    assert masks.shape == (2, 64, 64)
    assert masks[0, 10:45, 10:50].all() and masks[0].sum() == 35 * 40  # rows 10-44, columns 10-49
    assert masks[1, :20, :20].all() and masks[1].sum() == 400
    plain = add_box_masks(MODELS.build(tiny_mask_rcnn(with_mask=False)), DetectionTask.data_samples(inputs, LAYOUT))
    assert 'masks' not in plain[0].gt_instances


@pytest.mark.parametrize('with_mask', [False, True])
def test_two_stage_loss_and_predict_on_the_steps_features_equal_a_second_forward(with_mask):
    """DetectionTask reuses the features the step already has; the result is the detector's own."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_mask_rcnn(with_mask=with_mask)).eval()
    inputs = torch.randn(2, 3, 64, 64)
    calls = []
    model.backbone.register_forward_hook(lambda *args: calls.append(1))
    out = _forward(model, inputs)
    torch.manual_seed(1)  # the same RoI sampling in both
    reused = DetectionTask().loss(model, out, DetectionTask.data_samples(inputs, LAYOUT))
    with torch.no_grad():
        decoded = DetectionTask().predict(model, out, inputs)
    assert len(calls) == 1, 'loss and predict ran the backbone again'
    assert ('loss_mask' in reused) == with_mask
    torch.manual_seed(1)
    direct = model.loss(inputs, add_box_masks(model, DetectionTask.data_samples(inputs, LAYOUT)))
    with torch.no_grad():
        again = model.predict(inputs, DetectionTask.data_samples(inputs), rescale=False)
    assert reused.keys() == direct.keys()
    for key, value in direct.items():
        value = sum(value) if isinstance(value, list) else value
        mine = sum(reused[key]) if isinstance(reused[key], list) else reused[key]
        assert torch.allclose(mine, value, atol=1e-6), key
    for a, b in zip(decoded, again):
        assert len(a.pred_instances) == len(b.pred_instances) > 0
        assert torch.allclose(a.pred_instances.bboxes, b.pred_instances.bboxes, atol=1e-4)
        assert torch.equal(a.pred_instances.labels, b.pred_instances.labels)


def test_mask_rcnn_teacher_distils_into_a_one_stage_student_and_never_changes(tmp_path):
    """The task prior is the teacher's two-stage loss (masks from the boxes), the student learns from its
    detections (pseudo labels) and FPN features; two iterations change the generator and student only."""
    torch.manual_seed(0)
    teacher = MODELS.build(tiny_mask_rcnn())
    ckpt = str(tmp_path / 'mask_rcnn.pth')
    torch.save({'state_dict': teacher.state_dict()}, ckpt)
    cfg = det_distiller_cfg(
        tmp_path, 'conv', teacher=dict(model=tiny_mask_rcnn(), checkpoint=ckpt),
        student=tiny_fcos(embed_dim=16, neck=16, depth=1),
        priors=dict(task=dict(type='DetTaskPrior', loss_weight=1.0)),
        distill_losses=dict(feats=dict(type='FeatureKDLoss', tap='feats')))
    model, optim = build_with_optim(cfg)
    model.train()
    teacher0, student0, generator0 = snapshot(model.teacher), snapshot(model.student), snapshot(model.generator)
    logs = [model.train_step(dict(index=[0, 1]), optim) for _ in range(2)]
    for log in logs:
        assert {'G.loss_task', 'S.loss_feats', 'S.loss_pseudo'} <= set(log)
        assert all(torch.isfinite(v) for v in log.values()), log
    assert changed(generator0, model.generator) and changed(student0, model.student)
    assert not changed(teacher0, model.teacher)
    assert all(not p.requires_grad for p in model.teacher.parameters())
