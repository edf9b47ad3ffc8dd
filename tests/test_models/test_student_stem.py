"""stem='teacher' in a student config: the distiller gives the student its teacher's stem kind."""
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdfkd.models.distiller import resolved_student_config
from mmdfkd.models.layers import ConvStem
from mmdfkd.registry import MODELS
from mmdfkd.testing import tiny_classifier

init_default_scope('mmdfkd')


def _distiller(teacher_stem: str):
    teacher = dict(tiny_classifier(), stem=teacher_stem)
    student = dict(tiny_classifier(embed_dim=16), stem='teacher', stem_channels=4, stem_norm='layer')
    return MODELS.build(dict(type='DataFreeDistiller', task='cls', teacher=dict(model=teacher), student=student,
                             generator=dict(type='ConvGenerator', latent_dim=8, img_size=32),
                             distill_losses=dict(kd=dict(type='KLDivLoss', tap='logits'))))


@pytest.mark.parametrize('stem', ['patch', 'conv'])
def test_student_takes_the_teachers_stem_kind_and_keeps_its_own_width(stem):
    model = _distiller(stem)
    proj = model.student.model.patch_embed.proj
    assert isinstance(model.teacher.model.patch_embed.proj, ConvStem) == (stem == 'conv')
    assert isinstance(proj, ConvStem) == (stem == 'conv')
    if stem == 'conv':
        assert proj.layers[0].out_channels == 4                          # the student's width, not the teacher's 32
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in proj.modules())  # and its own norm
    else:
        assert isinstance(proj, torch.nn.Conv2d) and proj.stride == (8, 8)


def test_stem_teacher_outside_a_distiller_says_where_it_belongs():
    with pytest.raises(ValueError, match="resolved by DataFreeDistiller"):
        MODELS.build(dict(tiny_classifier(), stem='teacher'))


@pytest.mark.parametrize('stem', ['patch', 'conv'])
def test_resolved_student_config_is_what_the_distiller_builds(stem):
    """Export and the real-data baseline rebuild the student from config alone; it must fit the trained weights."""
    model_cfg = dict(teacher=dict(model=dict(tiny_classifier(), stem=stem), checkpoint='unused.pth'),
                     student=dict(tiny_classifier(embed_dim=16), stem='teacher', stem_channels=4, stem_norm='layer'))
    student_cfg = resolved_student_config(model_cfg)
    assert student_cfg['stem'] == stem and model_cfg['student']['stem'] == 'teacher'  # a copy, not an edit
    rebuilt = MODELS.build(student_cfg)
    rebuilt.load_state_dict(_distiller(stem).student.state_dict())  # strict: same modules, same shapes
    assert isinstance(rebuilt.model.patch_embed.proj, ConvStem) == (stem == 'conv')


def test_resolved_student_config_leaves_a_fixed_stem_alone_without_building_the_teacher():
    plain = dict(tiny_classifier(), stem='patch')
    assert resolved_student_config(dict(teacher=dict(config='no/such/file.py'), student=plain)) == plain
