"""NaturalCutMix: procedural boxes pasted into the student's classification batches only."""
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdfkd.models import NaturalCutMix
from mmdfkd.registry import MODELS
from mmdfkd.testing import tiny_classifier

init_default_scope('mmdfkd')


def test_pastes_one_box_of_the_asked_area_into_the_chosen_images():
    torch.manual_seed(0)
    x = torch.full((64, 3, 40, 40), -1.0)  # outside [0, 255]: every pasted pixel differs
    mixed, layout = NaturalCutMix(prob=0.5, area_range=(0.2, 0.4))(x)
    assert layout is None and mixed.shape == x.shape
    pasted = (mixed != x).any(1)                       # (N, H, W)
    area = pasted.float().mean((1, 2))
    hit = area > 0
    assert 16 < int(hit.sum()) < 48                    # about half the images, not none or all
    assert ((area[hit] > 0.15) & (area[hit] < 0.45)).all()   # a box of 20-40 % of the image (+ rounding)
    rows, cols = pasted.any(2), pasted.any(1)
    # a rectangle: its area is the product of its row and column extents
    assert torch.equal(pasted.sum((1, 2)), rows.sum(1) * cols.sum(1))
    new = mixed.permute(1, 0, 2, 3)[:, pasted]
    assert new.min() >= 0 and new.max() <= 255 and new.std() > 5   # natural-image texture, not a flat fill
    assert torch.equal(mixed[~hit], x[~hit])


def test_prob_zero_is_the_identity_and_bad_arguments_say_what_is_allowed():
    x = torch.rand(4, 3, 16, 16) * 255
    assert torch.equal(NaturalCutMix(prob=0.0)(x)[0], x)
    with pytest.raises(ValueError, match=r'prob must be in \[0, 1\]'):
        NaturalCutMix(prob=1.5)
    with pytest.raises(ValueError, match='area_range must satisfy'):
        NaturalCutMix(area_range=(0.5, 0.2))
    with pytest.raises(ValueError, match='for classification batches.*Remove student_mix'):
        NaturalCutMix()(x, [dict(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))])


def test_distiller_mixes_student_batches_but_not_the_generator_step(tmp_path):
    torch.manual_seed(0)
    teacher = MODELS.build(tiny_classifier())
    torch.save({'state_dict': teacher.state_dict()}, tmp_path / 't.pth')
    cfg = dict(type='DataFreeDistiller', task='cls',
               teacher=dict(model=tiny_classifier(), checkpoint=str(tmp_path / 't.pth')),
               student=tiny_classifier(embed_dim=16), generator=dict(type='ConvGenerator', latent_dim=8, img_size=32),
               priors=dict(conf=dict(type='ConfidencePrior', loss_weight=1.0)),
               distill_losses=dict(kd=dict(type='KLDivLoss', tap='logits')),
               student_mix=dict(type='NaturalCutMix', prob=1.0, area_range=(0.25, 0.25)))
    model = MODELS.build(cfg)
    assert isinstance(model.student_mix, NaturalCutMix)
    pixels = torch.full((8, 3, 32, 32), -1.0)
    batch, _ = model.student_batch(0, pixels, None)
    assert ((batch != pixels).any(1).float().mean((1, 2)) == 0.25).all()
    ctx = model.prior_context(pixels, None, with_student=False)   # the generator's view: unmixed
    assert torch.equal(ctx.pixels, pixels)
    cfg.pop('student_mix')
    assert MODELS.build(cfg).student_mix is None
