"""SpriteTransformerGenerator: mattes drawn from noise by a class-conditional transformer."""
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdfkd.models.generators import SpriteTransformerGenerator
from mmdfkd.registry import MODELS
from mmdfkd.testing import build_with_optim, changed, det_distiller_cfg, snapshot

init_default_scope('mmdfkd')


def small(**kwargs):
    return SpriteTransformerGenerator(64, 10, sprite_size=8, patch_size=4, latent_dim=8, embed_dim=16, depth=1,
                                      num_heads=2, **kwargs)


def test_mattes_are_new_per_object_and_learn_through_the_network():
    torch.manual_seed(0)
    gen = small()
    labels = torch.tensor([3, 3, 7])
    mattes, colours = gen.object_logits(labels)
    assert mattes.shape == (3, 1, 8, 8) and colours is None
    assert not torch.allclose(mattes[0], mattes[1])  # same class, new latent: another shape
    assert abs(float(mattes.detach().mean()) + 2.0) < 0.5      # mostly transparent at the start, as the bank
    mattes.sum().backward()
    assert gen.blocks[0].attn.qkv.weight.grad.abs().sum() > 0 and gen.class_embed.weight.grad[3].abs().sum() > 0
    assert not hasattr(gen, 'alpha_logits')


def test_objects_are_composited_only_inside_their_boxes():
    torch.manual_seed(0)
    gen = small(background='random', ink='random', opaque=True, noise_std=(0.0, 0.0), field_std=(0.0, 0.0))
    layout = [dict(bboxes=torch.tensor([[8., 8., 40., 40.]]), labels=torch.tensor([2]))]
    torch.manual_seed(1)
    image = gen(1, layout).detach()
    torch.manual_seed(1)
    empty = gen(1, [dict(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))]).detach()
    assert image.shape == (1, 3, 64, 64) and 0 <= float(image.min()) and float(image.max()) <= 255
    outside = torch.ones(64, 64, dtype=torch.bool)
    outside[8:40, 8:40] = False
    assert torch.equal(image[0][:, outside], empty[0][:, outside])
    assert not torch.allclose(image[0][:, 8:40, 8:40], empty[0][:, 8:40, 8:40])


def test_the_banks_own_options_are_refused():
    with pytest.raises(ValueError, match="ink='learned'"):
        small(ink='learned')
    with pytest.raises(ValueError, match='multiple of patch_size'):
        SpriteTransformerGenerator(64, 10, sprite_size=10, patch_size=4)


def test_train_step_updates_the_network_and_student_never_the_teacher(tmp_path):
    torch.manual_seed(0)
    cfg = det_distiller_cfg(tmp_path, priors=dict(task=dict(type='DetTaskPrior', loss_weight=1.0)),
                            fresh_student_batches=True)
    cfg['generator'] = dict(type='SpriteTransformerGenerator', img_size=64, num_classes=10, sprite_size=8,
                            patch_size=4, latent_dim=8, embed_dim=16, depth=1, num_heads=2)
    model, optim = build_with_optim(cfg)
    model.train()
    teacher0, student0, generator0 = snapshot(model.teacher), snapshot(model.student), snapshot(model.generator)
    log = model.train_step(dict(index=[0, 1]), optim)
    assert {'G.loss_task', 'S.loss_head', 'S.loss_pseudo'} <= set(log)
    assert changed(generator0, model.generator) and changed(student0, model.student)
    assert not changed(teacher0, model.teacher)
    assert isinstance(MODELS.get('SpriteTransformerGenerator'), type)


def test_prototypes_start_at_zero_and_shape_every_object_of_their_class():
    torch.manual_seed(0)
    plain_gen = small()
    torch.manual_seed(1)
    plain, _ = plain_gen.object_logits(torch.tensor([4, 4]))
    torch.manual_seed(0)
    gen = small(prototypes=True)
    assert gen.prototypes.shape == (10, 1, 8, 8) and not gen.prototypes.any()
    torch.manual_seed(1)
    mattes, _ = gen.object_logits(torch.tensor([4, 4]))
    assert torch.allclose(mattes, plain)  # zero prototypes: the network's mattes alone
    mattes.sum().backward()
    assert gen.prototypes.grad[4].abs().sum() > 0 and gen.prototypes.grad[3].abs().sum() == 0
