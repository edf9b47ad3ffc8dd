"""DataFreeDistiller: misconfigurations and bad numerics fail with errors that say what to do."""
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdfkd.models.generators import BaseGenerator
from mmdfkd.registry import MODELS
from mmdfkd.testing import build_with_optim, det_distiller_cfg, tiny_classifier, tiny_fcos

init_default_scope('mmdfkd')


@MODELS.register_module(force=True)
class _NaNGeneratorForTests(BaseGenerator):
    """Images that are NaN everywhere (a diverged generator)."""

    def __init__(self, img_size=32, num_classes=None) -> None:
        super().__init__(img_size, num_classes)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, batch_size, layout=None):
        return self.scale * torch.full((batch_size, 3) + self.img_size, float('nan'))


def cls_distiller_cfg(tmp_path, **overrides) -> dict:
    teacher = MODELS.build(tiny_classifier())
    torch.save({'state_dict': teacher.state_dict()}, tmp_path / 't.pth')
    cfg = dict(type='DataFreeDistiller', task='cls',
               teacher=dict(model=tiny_classifier(), checkpoint=str(tmp_path / 't.pth')),
               student=tiny_classifier(embed_dim=16), generator=dict(type='ConvGenerator', latent_dim=8, img_size=32),
               priors=dict(conf=dict(type='ConfidencePrior', loss_weight=1.0)),
               distill_losses=dict(kd=dict(type='KLDivLoss', tap='logits')))
    cfg.update(overrides)
    return cfg


def test_truncated_teacher_checkpoint_says_it_is_incomplete(tmp_path):
    cfg = cls_distiller_cfg(tmp_path)
    data = (tmp_path / 't.pth').read_bytes()
    (tmp_path / 't.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError, match=r"'.*t\.pth' could not be read .*truncated or damaged.*complete \.pth"):
        MODELS.build(cfg)


def test_unknown_prior_and_loss_list_registered_names(tmp_path):
    with pytest.raises(KeyError, match="Prior type 'NoSuchPrior' is not registered.*'TVPrior'"):
        MODELS.build(cls_distiller_cfg(tmp_path, priors=dict(x=dict(type='NoSuchPrior'))))
    with pytest.raises(KeyError, match="Loss type 'NoSuchLoss' is not registered.*'KLDivLoss'"):
        MODELS.build(cls_distiller_cfg(tmp_path, distill_losses=dict(x=dict(type='NoSuchLoss', tap='logits'))))


def test_nan_generator_steps_are_skipped_with_a_warning_then_training_stops(tmp_path, monkeypatch):
    import mmdfkd.models.distiller as distiller_module
    warnings = []
    monkeypatch.setattr(distiller_module, 'print_log', lambda msg, logger=None, level=None: warnings.append(
        (msg, level)))
    model, optim = build_with_optim(cls_distiller_cfg(
        tmp_path, generator=dict(type='_NaNGeneratorForTests'), max_bad_steps=3))
    model.train()
    for step in (1, 2):
        log = model.train_step(dict(index=[0, 1]), optim)
        assert not any(k.startswith('G.') for k in log), 'a skipped generator step logs no generator loss'
        assert all(torch.isfinite(p).all() for p in model.student.parameters())
        assert len(warnings) == step and warnings[-1][1] == 30  # logging.WARNING
        assert f'NaN/Inf images; skipping it ({step} in a row, stopping at 3)' in warnings[-1][0]
    assert model.last_synthetic is None, 'NaN images are never kept'
    with pytest.raises(FloatingPointError, match='NaN/Inf images 3 steps in a row. Lower the generator learning'):
        model.train_step(dict(index=[0, 1]), optim)


def test_dense_head_with_other_levels_than_the_teacher_is_explained(tmp_path):
    student = tiny_fcos(embed_dim=16, neck=16, depth=1)
    student['neck']['scale_factors'] = (2.0, 1.0)
    student['bbox_head'].update(strides=[8, 16], regress_ranges=((-1, 16), (16, 1e8)))
    model, optim = build_with_optim(det_distiller_cfg(
        tmp_path, student=student, generator_steps=1, student_steps=1, memory_capacity=0, connectors={},
        priors=dict(tv=dict(type='TVPrior', loss_weight=0.1)), pseudo_label=None,
        distill_losses=dict(head=dict(type='DenseHeadKDLoss', tap='head'))))
    model.train()
    with pytest.raises(ValueError, match="teacher head has 3 FPN levels, student head has 2: use the same strides"):
        model.train_step(dict(index=[0, 1]), optim)


def test_image_size_not_divisible_by_patch_size_names_sizes_that_work(tmp_path):
    cfg = det_distiller_cfg(tmp_path, generator_steps=1)
    cfg['generator'] = dict(type='PixelBankGenerator', batch_size=2, img_size=72)
    model, optim = build_with_optim(cfg)
    model.train()
    with pytest.raises(ValueError, match=r'ViT input size 72x72 is not a multiple of patch_size=16; use a height of '
                                         r'64 or 80 and a width of 64 or 80'):
        model.train_step(dict(index=[0, 1]), optim)


def test_non_finite_student_losses_are_skipped_with_a_warning_then_training_stops(tmp_path, monkeypatch):
    import mmdfkd.models.distiller as distiller_module
    warnings = []
    monkeypatch.setattr(distiller_module, 'print_log', lambda msg, logger=None, level=None: warnings.append(msg))
    model, optim = build_with_optim(cls_distiller_cfg(
        tmp_path, max_bad_steps=2,
        distill_losses=dict(kd=dict(type='KLDivLoss', tap='logits', loss_weight=float('nan')))))
    model.train()
    before = {k: v.clone() for k, v in model.student.state_dict().items()}
    log = model.train_step(dict(index=[0, 1]), optim)
    assert not any(k.startswith('S.') for k in log), 'a skipped student step logs no student loss'
    assert all(torch.equal(before[k], v) for k, v in model.student.state_dict().items()), \
        'a non-finite loss must not update the student'
    assert 'student step produced a non-finite loss (nan); skipping it (1 in a row, stopping at 2)' in warnings[-1]
    with pytest.raises(FloatingPointError, match='non-finite loss.*2 steps in a row. Lower the student learning'):
        model.train_step(dict(index=[0, 1]), optim)
