"""DataFreeDistiller: updates, frozen teacher, checkpoints, and no image reads."""
import copy

import pytest
import torch
from mmengine.registry import init_default_scope

from mmdfkd.registry import MODELS
from mmdfkd.testing import (
    CLASSES,
    GENERATORS,
    build_with_optim,
    changed,
    det_distiller_cfg,
    snapshot,
    tiny_classifier,
    tiny_fcos,
)

init_default_scope('mmdfkd')
@pytest.mark.parametrize('generator', sorted(GENERATORS))
def test_det_train_step_updates_generator_and_student_not_teacher(tmp_path, generator):
    torch.manual_seed(0)
    model, optim = build_with_optim(det_distiller_cfg(tmp_path, generator))
    model.train()
    teacher0, student0 = snapshot(model.teacher), snapshot(model.student)
    generator0 = snapshot(model.generator)
    if generator == 'pixel':
        model.generator.reset = lambda: None  # keep the bank so that its update is visible
    log = model.train_step(dict(index=[0, 1]), optim)
    assert all(torch.isfinite(v) for v in log.values()), log
    assert {'G.loss_task', 'G.loss_tv', 'S.loss_head', 'S.loss_feats', 'S.loss_pseudo'} <= set(log)
    assert changed(generator0, model.generator)
    assert changed(student0, model.student)
    assert not changed(teacher0, model.teacher)
    assert not model.teacher.training and all(not p.requires_grad for p in model.teacher.parameters())
    assert model.last_synthetic.shape == (2, 3, 64, 64) and len(model.memory) == 2


def test_checkpoint_state_holds_student_and_generator_not_teacher(tmp_path):
    model, _ = build_with_optim(det_distiller_cfg(tmp_path))
    from mmengine.runner.checkpoint import get_state_dict, load_state_dict
    state = get_state_dict(model)
    assert not any(k.startswith('teacher.') for k in state)
    assert any(k.startswith('student.') for k in state) and any(k.startswith('generator.') for k in state)
    fresh, _ = build_with_optim(det_distiller_cfg(tmp_path))
    missing, unexpected = fresh.load_state_dict(copy.deepcopy(state), strict=True)
    assert not missing and not unexpected
    load_state_dict(fresh, state, strict=True)  # MMEngine's loader agrees


def test_missing_teacher_checkpoint_names_the_training_command(tmp_path):
    cfg = det_distiller_cfg(tmp_path)
    cfg['teacher'] = dict(config='configs/teachers/vitdet_digits-det.py', checkpoint=str(tmp_path / 'nope.pth'))
    with pytest.raises(FileNotFoundError, match='python tools/train.py configs/teachers/vitdet_digits-det.py'):
        MODELS.build(cfg)


def test_teacher_checkpoint_of_another_architecture_lists_keys(tmp_path):
    cfg = det_distiller_cfg(tmp_path)
    other = MODELS.build(tiny_fcos(embed_dim=16, neck=16, depth=1))
    torch.save({'state_dict': other.state_dict()}, tmp_path / 'other.pth')
    cfg['teacher'] = dict(model=tiny_fcos(), checkpoint=str(tmp_path / 'other.pth'))
    with pytest.raises(RuntimeError, match=r'Missing keys: \[backbone.blocks.1.*Shape mismatches.*'
                                           r'backbone.pos_embed \(1, 4, 4, 16\) vs \(1, 4, 4, 32\)'):
        MODELS.build(cfg)


def test_unknown_generator_lists_registered_names(tmp_path):
    cfg = det_distiller_cfg(tmp_path)
    cfg['generator'] = dict(type='NoSuchGenerator')
    with pytest.raises(KeyError, match='PixelBankGenerator'):
        MODELS.build(cfg)


def test_class_count_mismatch_is_explained(tmp_path):
    student = tiny_fcos(embed_dim=16, neck=16, depth=1)
    student['bbox_head']['num_classes'] = 80
    with pytest.raises(ValueError, match='10 classes but the student 80'):
        MODELS.build(det_distiller_cfg(tmp_path, student=student))


@pytest.mark.parametrize('generator', sorted(GENERATORS))
def test_cls_train_step(tmp_path, generator):
    torch.manual_seed(0)
    teacher = MODELS.build(tiny_classifier())
    torch.save({'state_dict': teacher.state_dict()}, tmp_path / 't.pth')
    gen_cfg = dict(GENERATORS[generator], img_size=32)
    model, optim = build_with_optim(dict(
        type='DataFreeDistiller', task='cls',
        teacher=dict(model=tiny_classifier(), checkpoint=str(tmp_path / 't.pth')),
        student=tiny_classifier(embed_dim=16), generator=gen_cfg,
        priors=dict(conf=dict(type='ConfidencePrior', loss_weight=1.0),
                    adv=dict(type='AdversarialPrior', tap='logits', loss_weight=1.0)),
        distill_losses=dict(kd=dict(type='KLDivLoss', tap='logits', tau=4.0),
                            ce=dict(type='PseudoLabelCELoss', tap='logits'))))
    model.train()
    teacher0, student0 = snapshot(model.teacher), snapshot(model.student)
    log = model.train_step(dict(index=[0, 1]), optim)
    assert {'G.loss_conf', 'G.loss_adv', 'S.loss_kd', 'S.loss_ce'} <= set(log)
    assert changed(student0, model.student) and not changed(teacher0, model.teacher)


def _data_free_runner(tmp_path, work_dir: str, max_iters: int, **kwargs):
    from mmengine.runner import Runner
    return Runner(
        model=det_distiller_cfg(tmp_path, generator_steps=1, student_steps=1), work_dir=str(tmp_path / work_dir),
        train_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=False),
                              collate_fn=dict(type='pseudo_collate'),
                              dataset=dict(type='LatentDataset', metainfo=dict(classes=CLASSES))),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(constructor='DataFreeOptimWrapperConstructor',
                           generator=dict(optimizer=dict(type='Adam', lr=0.05)),
                           student=dict(optimizer=dict(type='AdamW', lr=1e-3))),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='SyntheticImageHook', interval=2)],
        default_scope='mmdfkd', randomness=dict(seed=0), **kwargs)


def test_data_free_run_never_reads_an_image_and_resumes(tmp_path, monkeypatch):
    import cv2
    import mmcv
    import PIL.Image
    from mmcv.transforms import LoadImageFromFile

    def forbidden(*args, **kwargs):
        raise AssertionError('the data-free training path tried to read an image')

    for owner, name in ((cv2, 'imread'), (cv2, 'imdecode'), (mmcv, 'imread'), (mmcv, 'imfrombytes'),
                        (PIL.Image, 'open'), (LoadImageFromFile, 'transform')):
        monkeypatch.setattr(owner, name, forbidden)
    runner = _data_free_runner(tmp_path, 'a', max_iters=2)
    runner.train()
    assert (tmp_path / 'a' / 'iter_2.pth').exists()
    assert (tmp_path / 'a' / 'synthetic' / 'iter_2.png').exists()

    resumed = _data_free_runner(tmp_path, 'b', max_iters=4, resume=True, load_from=str(tmp_path / 'a' / 'iter_2.pth'))
    resumed.train()
    assert resumed.iter == 4 and int(resumed.model._iter) == 4


def test_teacher_cfg_options_are_merged_into_the_teacher_config(tmp_path):
    from mmengine.config import Config
    config = 'configs/teachers/vitdet_digits-det.py'
    small = {'model.backbone.embed_dim': 32, 'model.backbone.depth': 2, 'model.backbone.num_heads': 2,
             'model.backbone.global_attn_indexes': (1, ), 'model.neck.in_channels': 32,
             'model.neck.out_channels': 32, 'model.bbox_head.in_channels': 32,
             'model.bbox_head.feat_channels': 32, 'model.bbox_head.stacked_convs': 1}
    teacher_cfg = Config.fromfile(config)
    teacher_cfg.merge_from_dict(small)
    torch.save({'state_dict': MODELS.build(teacher_cfg.model).state_dict()}, tmp_path / 'small.pth')
    options = dict(small, **{'model.backbone.expose_attention': True})
    model = MODELS.build(det_distiller_cfg(
        tmp_path, teacher=dict(config=config, cfg_options=options, checkpoint=str(tmp_path / 'small.pth'))))
    assert model.teacher.backbone.embed_dim == 32 and model.teacher.backbone.expose_attention
    assert not model.teacher.backbone.blocks[0].attn.fused_attn
    with pytest.raises(ValueError, match='cfg_options applies to teacher.config'):
        MODELS.build(det_distiller_cfg(tmp_path, teacher=dict(model=tiny_fcos(), cfg_options=options)))


def test_runner_init_weights_keeps_the_loaded_teacher(tmp_path):
    model = MODELS.build(det_distiller_cfg(tmp_path))
    teacher0, student0 = snapshot(model.teacher), snapshot(model.student)
    model.init_weights()  # the Runner calls this after building the model, before training
    assert changed(student0, model.student)
    assert not changed(teacher0, model.teacher)


def test_refine_ratio_starts_part_of_the_bank_from_memory(tmp_path):
    torch.manual_seed(0)
    model, optim = build_with_optim(det_distiller_cfg(tmp_path, refine_ratio=0.5, memory_capacity=4))
    model.train()
    model.train_step(dict(index=[0, 1]), optim)
    remembered = model.memory._images[:1].float()
    torch.manual_seed(1)
    layout = model.layout_sampler(2, model.generator.img_size, 10)
    # memory.sample draws index 0 or 1: make both the same image
    model.memory._images[1] = model.memory._images[0]
    model.memory._layouts[1] = model.memory._layouts[0]
    torch.manual_seed(1)  # start_batch samples the same layout first
    new_layout = model.start_batch(2, optim['generator'])
    pixels = model.generator(2)
    assert torch.allclose(pixels[0], remembered[0], atol=1.0), 'first half continues a remembered image'
    assert (pixels[1] - remembered[0]).abs().mean() > 10, 'second half is fresh noise'
    assert torch.equal(new_layout[0]['labels'], model.memory._layouts[0]['labels'])
    assert torch.equal(new_layout[1]['bboxes'], layout[1]['bboxes'])
    assert torch.equal(new_layout[1]['labels'], layout[1]['labels'])


def test_fresh_student_batches_draw_a_new_scene_per_student_step(tmp_path):
    torch.manual_seed(0)
    cfg = det_distiller_cfg(tmp_path, 'conv', memory_capacity=0, fresh_student_batches=True,
                            priors=dict(task=dict(type='DetTaskPrior')), augment=None)
    cfg['generator'] = dict(type='SpriteBankGenerator', img_size=64, num_classes=10)
    model, optim = build_with_optim(cfg)
    model.train()
    seen = []
    original_run = model.run_model

    def spy(net, recorder, pixels):
        if net is model.student:
            seen.append(pixels.detach().clone())
        return original_run(net, recorder, pixels)

    model.run_model = spy
    teacher0, student0, generator0 = snapshot(model.teacher), snapshot(model.student), snapshot(model.generator)
    model.train_step(dict(index=[0, 1]), optim)
    assert len(seen) == 2 and not torch.allclose(seen[0], seen[1])
    assert model.num_synthetic_images == 4  # the iteration's batch of 2 + one fresh batch of 2
    assert changed(generator0, model.generator) and changed(student0, model.student)
    assert not changed(teacher0, model.teacher)


def _sprite_distiller(tmp_path, **kwargs):
    cfg = det_distiller_cfg(tmp_path, 'conv', memory_capacity=0, fresh_student_batches=True,
                            priors=dict(task=dict(type='DetTaskPrior')), augment=None, **kwargs)
    cfg['generator'] = dict(type='SpriteBankGenerator', img_size=64, num_classes=10)
    return build_with_optim(cfg)


def test_teacher_reuse_runs_the_teacher_on_every_rth_student_batch_and_trains_on_the_pool(tmp_path):
    torch.manual_seed(0)
    model, optim = _sprite_distiller(tmp_path, generator_steps=1, student_steps=4, teacher_reuse=2,
                                     labelled_pool_size=3)
    model.train()
    runs = {'teacher': [], 'student': []}
    original_run = model.run_model

    def spy(net, recorder, pixels):
        name = 'teacher' if net is model.teacher else 'student'
        runs[name].append(pixels.detach().clone())
        return original_run(net, recorder, pixels)

    model.run_model = spy
    for _ in range(2):
        model.train_step(dict(index=[0, 1]), optim)
    # per iteration: 1 generator step (teacher) + 2 of the 4 student batches labelled by the teacher
    assert len(runs['teacher']) == 2 * (1 + 2) and len(runs['student']) == 2 * 4
    labelled = [p for i, p in enumerate(runs['teacher']) if i % 3]  # not the generator steps'
    assert len(model._labelled) == 3  # the pool keeps the last 3 labelled batches
    assert torch.equal(model._labelled[-1]['batch'], labelled[-1])
    # every student batch is one the teacher labelled: the reused ones come from the pool
    assert all(any(torch.equal(s, t) for t in labelled) for s in runs['student'])
    assert model.num_synthetic_images == 2 * (2 + 2)  # each iteration: its batch + 1 fresh batch


def test_student_losses_on_a_reused_labelled_batch_equal_those_computed_afresh(tmp_path):
    torch.manual_seed(0)
    model, _ = _sprite_distiller(tmp_path)
    pixels = torch.rand(2, 3, 64, 64) * 255
    layout = model.sample_layout(2, pixels.device)
    labelled = model.label_batch(pixels, layout)
    again = model.student_losses(pixels, layout, labelled)
    fresh = model.student_losses(pixels, layout)
    assert set(again) == set(fresh) == {'loss_head', 'loss_feats', 'loss_pseudo'}
    for key in fresh:
        assert torch.allclose(again[key], fresh[key]), key


def test_teacher_reuse_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match='teacher_reuse'):
        _sprite_distiller(tmp_path, teacher_reuse=0)


def test_fresh_student_batches_refuse_the_pixel_bank(tmp_path):
    with pytest.raises(ValueError, match='memory_capacity'):
        MODELS.build(det_distiller_cfg(tmp_path, 'pixel', fresh_student_batches=True))


def test_pseudo_labels_decoded_from_the_recorded_head_equal_teacher_predict(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(det_distiller_cfg(tmp_path))
    pixels = torch.rand(2, 3, 64, 64) * 255
    with torch.no_grad():
        out = model.run_model(model.teacher, model.teacher_recorder, pixels)
        decoded = model.task.predict(model.teacher, out, out['_inputs'])
        direct = model.teacher.predict(out['_inputs'], model.task.data_samples(out['_inputs']), rescale=False)
    for a, b in zip(decoded, direct):
        assert len(a.pred_instances) == len(b.pred_instances) > 0
        assert torch.allclose(a.pred_instances.bboxes, b.pred_instances.bboxes)
        assert torch.allclose(a.pred_instances.scores, b.pred_instances.scores)
        assert torch.equal(a.pred_instances.labels, b.pred_instances.labels)


def test_generator_warmup_iters_train_only_the_generator_first(tmp_path):
    torch.manual_seed(0)
    model, optim = build_with_optim(det_distiller_cfg(tmp_path, 'conv', generator_warmup_iters=1))
    model.train()
    student0, generator0 = snapshot(model.student), snapshot(model.generator)
    log = model.train_step(dict(index=[0, 1]), optim)
    assert not any(k.startswith('S.') for k in log)
    assert changed(generator0, model.generator) and not changed(student0, model.student)
    log = model.train_step(dict(index=[0, 1]), optim)
    assert 'S.loss_head' in log and changed(student0, model.student)


@pytest.mark.parametrize('training', [False, True])
def test_detection_loss_from_the_recorded_head_equals_the_detector_loss(training):
    """The task prior and the pseudo labels reuse the step's forward: the same loss as a second forward gives."""
    from mmdfkd.models.tasks import DetectionTask
    torch.manual_seed(0)
    model = MODELS.build(tiny_fcos()).train(training)
    inputs = torch.randn(2, 3, 64, 64)
    layout = [dict(bboxes=torch.tensor([[4., 6., 30., 40.]]), labels=torch.tensor([3])),
              dict(bboxes=torch.tensor([[10., 10., 50., 44.], [0., 0., 20., 20.]]), labels=torch.tensor([1, 7]))]
    samples = DetectionTask.data_samples(inputs, layout)
    torch.manual_seed(1)  # the same drop-path draws in both forwards
    out = DetectionTask().forward(model, inputs)
    out['_inputs'] = inputs
    reused = DetectionTask().loss(model, out, samples)
    torch.manual_seed(1)
    direct = model.loss(inputs, samples)
    assert reused.keys() == direct.keys()
    for key in direct:
        assert torch.allclose(reused[key], direct[key], atol=1e-6), key
