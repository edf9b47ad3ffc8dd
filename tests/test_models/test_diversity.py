"""batch_diversity on hand-built batches, prior_grad_norms and DiversityHook on a tiny distiller."""
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdfkd.analysis.diversity import batch_diversity, prior_grad_norms
from mmdfkd.registry import MODELS
from mmdfkd.testing import det_distiller_cfg, snapshot

init_default_scope('mmdfkd')


def test_a_collapsed_batch_has_zero_distance_and_one_class():
    image = torch.rand(1, 3, 8, 8) * 255
    logits = torch.tensor([[0.0, 5.0, 0.0]]).repeat(4, 1)
    out = batch_diversity(image.repeat(4, 1, 1, 1), logits)
    assert out['pairwise_dist'] == pytest.approx(0.0, abs=1e-6)
    assert out['classes'] == 1 and out['top_class_share'] == 1.0
    assert out['confidence'] == pytest.approx(torch.tensor([0.0, 5.0, 0.0]).softmax(0).max().item())


def test_black_and_white_images_are_one_unit_apart_and_classes_are_counted():
    pixels = torch.stack([torch.zeros(3, 4, 4), torch.full((3, 4, 4), 255.0)])
    logits = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    out = batch_diversity(pixels, logits)
    assert out['pairwise_dist'] == pytest.approx(1.0)
    assert out['classes'] == 2 and out['top_class_share'] == 0.5
    with pytest.raises(ValueError, match='at least 2 images'):
        batch_diversity(pixels[:1])


def test_prior_grad_norms_measure_each_prior_and_update_nothing(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(det_distiller_cfg(tmp_path, 'conv')).train()
    before = snapshot(model)
    norms = prior_grad_norms(model, 2)
    assert set(norms) == {'task', 'tv', 'adv'} and all(v > 0 for v in norms.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_measuring_leaves_the_rng_stream_alone(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(det_distiller_cfg(tmp_path, 'conv')).train()
    state = torch.get_rng_state()
    prior_grad_norms(model, 2)
    assert torch.equal(torch.get_rng_state(), state)
