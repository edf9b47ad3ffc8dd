"""stem='teacher' in a student config: the distiller gives the student its teacher's stem kind."""
import pytest
import torch
from mmengine.registry import init_default_scope

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
