"""TeacherLayoutSampler: sizes from the teacher's head, re-weighted by the teacher's re-detections."""
import math

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdfkd.models.generators import LayoutSampler, TeacherLayoutSampler, head_size_range
from mmdfkd.models.generators.layout import occupancy_max_objects
from mmdfkd.registry import MODELS
from mmdfkd.testing.models import build_with_optim, det_distiller_cfg, tiny_fcos

init_default_scope('mmdfkd')


def fcos(strides=(8, 16, 32), regress_ranges=((-1, 16), (16, 32), (32, 1e8))):
    cfg = tiny_fcos()
    cfg['bbox_head'].update(strides=list(strides), regress_ranges=regress_ranges)
    return MODELS.build(cfg)


def test_sizes_come_from_the_strides_and_regress_ranges():
    lo, hi, source = head_size_range(fcos(), (64, 64))
    assert (lo, hi) == (16.0, 64.0)  # two finest-stride cells; twice the last level's lower bound, in the image
    assert 'regress_ranges' in source
    lo, hi, _ = head_size_range(fcos(strides=(4, 8, 16)), (256, 256))
    assert lo == 8.0
    _, hi_bounded, _ = head_size_range(fcos(regress_ranges=((-1, 8), (8, 16), (16, 24))), (256, 256))
    assert hi_bounded == 48.0  # every range bounded: twice the largest bound


def test_sampler_follows_the_teacher_and_changes_with_it():
    small, big = TeacherLayoutSampler(), TeacherLayoutSampler()
    small.setup(fcos(strides=(4, 8, 16), regress_ranges=((-1, 8), (8, 16), (16, 20))), (128, 128))
    big.setup(fcos(), (128, 128))
    torch.manual_seed(0)
    sides = {name: torch.cat([(b['bboxes'][:, 2:] - b['bboxes'][:, :2]).prod(1).sqrt()
                              for b in s(64, (128, 128), 10)]) for name, s in (('small', small), ('big', big))}
    assert sides['small'].min() >= 8 * 0.7 and sides['small'].max() <= 40 * 1.5
    assert sides['big'].median() > 1.5 * sides['small'].median()
    assert small.summary() != big.summary()


def test_sampling_before_setup_says_what_to_do():
    with pytest.raises(RuntimeError, match='setup'):
        TeacherLayoutSampler()(1, 64, 10)


def _result(boxes, labels, scores):
    sample = DetDataSample()
    sample.pred_instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32).view(-1, 4),
                                         labels=torch.tensor(labels), scores=torch.tensor(scores))
    return sample


def test_observed_redetections_reweight_the_size_bins():
    sampler = TeacherLayoutSampler(num_bins=2, momentum=0.5, log_interval=0)
    sampler.setup(fcos(), (64, 64))  # sides 16-64: bins 16-32 and 32-64
    layout = [dict(bboxes=torch.tensor([[0., 0., 20., 20.], [0., 0., 50., 50.]]), labels=torch.tensor([1, 2]))]
    found_small = [_result([[0, 0, 20, 20], [0, 0, 50, 50]], [1, 5], [0.9, 0.9])]  # big box: wrong class
    for _ in range(5):
        sampler.observe(layout, found_small)
    assert sampler.rates[0] > 0.95 and sampler.rates[1] < 0.05
    assert sampler.bin_probs[0] > 5 * sampler.bin_probs[1]
    # fewer, larger objects would now cover less: the count follows the smaller typical side
    assert sampler.typical_side(16, 64) < math.sqrt(16 * 64)
    low_score = [_result([[0, 0, 50, 50]], [2], [0.1])]
    before = sampler.rates.clone()
    sampler.observe(layout, low_score)
    assert sampler.rates[1] <= before[1] and sampler.rates[0] < before[0]


def test_observed_redetections_reweight_the_aspect_bins():
    sampler = TeacherLayoutSampler(num_bins=1, num_aspect_bins=2, aspect_range=(0.5, 2.0), momentum=0.5,
                                   log_interval=0)
    sampler.setup(fcos(), (64, 64))
    tall, wide = [0., 0., 20., 40.], [0., 20., 40., 40.]
    layout = [dict(bboxes=torch.tensor([tall, wide]), labels=torch.tensor([1, 2]))]
    for _ in range(5):
        sampler.observe(layout, [_result([tall], [1], [0.9])])  # only the tall box is re-detected
    assert sampler.aspect_rates[0] > 0.95 and sampler.aspect_rates[1] < 0.05
    torch.manual_seed(0)
    boxes = torch.cat([item['bboxes'] for item in sampler(64, (64, 64), 10)])
    aspects = (boxes[:, 2] - boxes[:, 0]) / (boxes[:, 3] - boxes[:, 1])
    assert (aspects < 1).float().mean() > 0.75  # mostly tall boxes now
    assert 'per aspect (w/h) bin: 0.50-1.00: 0.98' in sampler.summary()


def test_default_layout_sampler_is_relative_to_the_image():
    sampler = LayoutSampler()
    assert sampler.size_range((200, 400)) == (20.0, 100.0)
    assert occupancy_max_objects((100, 100), 25.0) == 4
    torch.manual_seed(0)
    for item in sampler(16, (200, 400), 3):
        sides = item['bboxes'][:, 2:] - item['bboxes'][:, :2]
        assert (sides >= 20 - 1e-4).all() and (sides <= 100 + 1e-4).all()


def test_distiller_sets_up_observes_and_checkpoints_the_sampler(tmp_path):
    cfg = det_distiller_cfg(tmp_path, 'conv', layout_sampler=dict(type='TeacherLayoutSampler', log_interval=0),
                            pseudo_label=dict(score_thr=0.0, loss_weight=1.0))
    model, optim = build_with_optim(cfg)
    assert model.layout_sampler.head_range == (16.0, 64.0)
    model.train_step(dict(index=[0, 1]), optim)
    assert model.layout_sampler.num_observed == cfg['generator_steps'] + cfg['student_steps']
    state = model.state_dict()
    assert torch.equal(state['_layout_rates'], model.layout_sampler.rates)
    other, _ = build_with_optim(cfg)
    other.load_state_dict(state)
    assert torch.equal(other.layout_sampler.rates, model.layout_sampler.rates)


def test_teacher_chooses_among_appearance_styles():
    from mmdfkd.models.generators import SpriteBankGenerator
    gen = SpriteBankGenerator(64, num_classes=10, sprites_per_class=1, background='styles', ink='styles')
    sampler = TeacherLayoutSampler(momentum=0.5, log_interval=0)
    sampler.setup(fcos(), (64, 64), num_styles=gen.num_styles)
    torch.manual_seed(0)
    layout = sampler(9, (64, 64), 10)
    assert all(item['style'].shape == (1, ) and 0 <= int(item['style']) < 9 for item in layout)
    assert gen(9, layout).shape == (9, 3, 64, 64)
    # only images of style 4 have their objects re-detected
    for item in layout:
        item['style'] = torch.tensor([4 if item is layout[0] else 2])
    results = [_result(item['bboxes'].tolist() if i == 0 else [], item['labels'].tolist() if i == 0 else [],
                       [0.9] * len(item['labels']) if i == 0 else []) for i, item in enumerate(layout)]
    for _ in range(4):
        sampler.observe(layout, results)
    assert sampler.style_rates[4] > 0.9 and sampler.style_rates[2] < 0.1
    assert sampler.style_probs.argmax() == 4 and 'per appearance style' in sampler.summary()


def test_redetection_probe_runs_the_generator_only(tmp_path):
    from mmengine.config import Config

    from mmdfkd.analysis.redetection import probe_redetection
    cfg = det_distiller_cfg(tmp_path, 'conv', layout_sampler=dict(type='TeacherLayoutSampler', log_interval=0))
    cfg = Config(dict(model=cfg, train_dataloader=dict(batch_size=2),
                      optim_wrapper=dict(generator=dict(optimizer=dict(type='Adam', lr=1e-3)),
                                         student=dict(optimizer=dict(type='AdamW', lr=1e-3)))))
    records = probe_redetection(cfg, steps=3, every=2)
    assert [r['step'] for r in records] == [2, 3]
    assert len(records[-1]['size_rates']) == 6 and 0 <= records[-1]['mean_rate'] <= 1
    with pytest.raises(ValueError, match='TeacherLayoutSampler'):
        cfg.model.layout_sampler = dict(type='LayoutSampler')
        probe_redetection(cfg, steps=1)
