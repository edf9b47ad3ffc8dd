"""Priors on synthetic images: hand computations, signs, hooks."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdfkd.models.priors import (
    AdversarialPrior,
    AttentionConsistencyPrior,
    ConfidencePrior,
    DetTaskPrior,
    L2Prior,
    NormStatsPrior,
    PatchSimilarityEntropyPrior,
    SynthesisContext,
    TVPrior,
)


def make_ctx(images=None, pixels=None, taps_T=None, taps_S=None, teacher=None, data_samples=None):
    images = torch.zeros(1, 3, 4, 4) if images is None else images
    return SynthesisContext(images=images, pixels=images * 0 + 128 if pixels is None else pixels,
                            taps_T=taps_T or {}, taps_S=taps_S or {}, teacher=teacher or nn.Identity(),
                            layout=None, data_samples=data_samples)


# ---------------------------------------------------------------- image priors
@pytest.mark.parametrize('norm,expected', [('l2', 0.125 + 0.625), ('l1', 0.25 + 0.75)])
def test_tv_hand_computed(norm, expected):
    pixels = torch.tensor([[0., 127.5], [255., 255.]]).view(1, 1, 2, 2)
    loss = TVPrior(norm=norm, loss_weight=2.0)(make_ctx(pixels=pixels))
    assert loss.item() == pytest.approx(2 * expected)
    assert TVPrior()(make_ctx(pixels=torch.full((1, 3, 4, 4), 7.0))).item() == 0
    with pytest.raises(ValueError, match="'l1' or 'l2'"):
        TVPrior(norm='l3')


def test_l2_hand_computed_and_grad():
    images = torch.tensor([1., -2., 3., 0.]).view(1, 1, 2, 2).requires_grad_()
    loss = L2Prior(loss_weight=0.5)(make_ctx(images=images))
    assert loss.item() == pytest.approx(0.5 * 14 / 4)
    loss.backward()
    assert torch.allclose(images.grad, 0.5 * 2 * images.detach() / 4)


# ---------------------------------------------------------------- confidence
def test_confidence_classification_hand_computed():
    logits = torch.tensor([[2., 0., 0.], [0., 1., 0.]])
    expected = (math.log(1 + 2 * math.exp(-2)) + math.log(1 + 2 * math.exp(-1))) / 2
    loss = ConfidencePrior(loss_weight=3.0)(make_ctx(taps_T={'logits': logits}))
    assert loss.item() == pytest.approx(3 * expected, rel=1e-5)

    mean = logits.softmax(1).mean(0)
    balance = (mean * mean.log()).sum() / math.log(3)  # -H / log K
    loss = ConfidencePrior(balance_weight=5.0)(make_ctx(taps_T={'logits': logits}))
    assert loss.item() == pytest.approx(expected + 5 * balance.item(), rel=1e-5)


def test_confidence_classification_sign():
    """Lower loss for confident logits."""
    prior = ConfidencePrior()
    sharp = prior(make_ctx(taps_T={'logits': torch.tensor([[10., 0., 0.]])}))
    flat = prior(make_ctx(taps_T={'logits': torch.tensor([[0.1, 0., 0.]])}))
    assert sharp < flat


def test_confidence_detection_topk():
    level0 = torch.full((1, 2, 2, 2), -5.0)
    level0[0, 1, 0, 0] = 3.0
    level1 = torch.full((1, 2, 1, 1), -5.0)
    level1[0, 0, 0, 0] = 1.0
    head = ([level0, level1], [torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 1, 1)])
    loss = ConfidencePrior(topk=2)(make_ctx(taps_T={'head': head}))
    expected = (F.softplus(torch.tensor(-3.0)) + F.softplus(torch.tensor(-1.0))) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss = ConfidencePrior(topk=2, balance_weight=1.0)(make_ctx(taps_T={'head': head}))
    assert torch.isfinite(loss)
    with pytest.raises(KeyError, match='logits_tap'):
        ConfidencePrior()(make_ctx(taps_T={'feats': torch.zeros(1)}))


# ---------------------------------------------------------------- adversarial
def test_adversarial_logits_l1_and_kl():
    logits_T = torch.tensor([[1., 0.], [0., 0.]])
    logits_S = torch.tensor([[0., 0.], [0., 2.]], requires_grad=True)
    ctx = make_ctx(taps_T={'logits': logits_T}, taps_S={'logits': logits_S})
    loss = AdversarialPrior(loss_weight=2.0)(ctx)
    expected = (logits_S.softmax(1) - logits_T.softmax(1)).abs().mean()
    assert loss.item() == pytest.approx(-2 * expected.item())
    assert loss < 0
    loss.backward()
    assert logits_S.grad.abs().sum() > 0

    p_T, p_S = logits_T.softmax(1), logits_S.softmax(1)
    kl = (p_T * (p_T.log() - p_S.log())).sum() / 2
    assert AdversarialPrior(mode='kl')(ctx).item() == pytest.approx(-kl.item(), rel=1e-5)
    same = make_ctx(taps_T={'logits': logits_T}, taps_S={'logits': logits_T.clone()})
    assert AdversarialPrior()(same).item() == 0


def test_adversarial_dense_head():
    cls_T = [torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 1, 1)]
    cls_S = [torch.zeros(1, 2, 2, 2), torch.full((1, 2, 1, 1), 100.0)]
    ctx = make_ctx(taps_T={'head': (cls_T, [])}, taps_S={'head': (cls_S, [])})
    loss = AdversarialPrior(tap='head')(ctx)
    assert loss.item() == pytest.approx(-(2 * 0.5) / 10)  # two entries differ by 0.5, ten entries in all
    bad = make_ctx(taps_T={'head': (cls_T, [])}, taps_S={'head': (cls_S[:1], [])})
    with pytest.raises(ValueError, match='same levels'):
        AdversarialPrior(tap='head')(bad)
    with pytest.raises(KeyError, match='taps_S'):
        AdversarialPrior()(make_ctx(taps_T={'logits': torch.zeros(1, 2)}))


# ---------------------------------------------------------------- PSAQ-ViT
def test_patch_similarity_entropy_single_pair_is_gaussian_entropy():
    """Two orthogonal tokens: one similarity (0), so the KDE is one Gaussian."""
    tokens = torch.tensor([[[1., 0.], [0., 1.]]])
    bw = 0.05
    loss = PatchSimilarityEntropyPrior(tap='t', bandwidth=bw, num_bins=401)(make_ctx(taps_T={'t': tokens}))
    gaussian_entropy = 0.5 * math.log(2 * math.pi * math.e * bw**2)
    assert loss.item() == pytest.approx(-gaussian_entropy, abs=0.02)


def test_patch_similarity_entropy_prefers_diverse_tokens():
    torch.manual_seed(0)
    prior = PatchSimilarityEntropyPrior(loss_weight=1.0)
    same = torch.ones(2, 16, 8) + 1e-3 * torch.randn(2, 16, 8)
    diverse = torch.randn(2, 16, 8, requires_grad=True)
    loss_same = prior(make_ctx(taps_T={'blocks': [same]}))
    loss_diverse = prior(make_ctx(taps_T={'blocks': [diverse]}))
    assert loss_diverse < loss_same  # loss is the negative entropy
    loss_diverse.backward()
    assert diverse.grad.abs().sum() > 0
    # NHWC maps are flattened; lists sum over layers; prefix tokens are dropped
    nhwc = diverse.detach().view(2, 4, 4, 8)
    two = prior(make_ctx(taps_T={'blocks': [nhwc, nhwc]}))
    assert two.item() == pytest.approx(2 * loss_diverse.item(), rel=1e-5)
    with_cls = torch.cat([torch.zeros(2, 1, 8), diverse.detach()], dim=1)
    skip = PatchSimilarityEntropyPrior(num_prefix_tokens=1)(make_ctx(taps_T={'blocks': with_cls}))
    assert skip.item() == pytest.approx(loss_diverse.item(), rel=1e-5)


# ---------------------------------------------------------------- attention
def test_attention_consistency_hand_computed():
    one_hot = torch.tensor([[1., 0.], [0., 1.]])
    agree = one_hot.expand(1, 2, 2, 2)  # (B', heads, T, T), both heads identical and sharp
    assert AttentionConsistencyPrior()(make_ctx(taps_T={'attn': [agree]})).item() == pytest.approx(0, abs=1e-6)

    uniform = torch.full((1, 2, 2, 2), 0.5)
    loss = AttentionConsistencyPrior(sharpness_weight=0.5)(make_ctx(taps_T={'attn': [uniform]}))
    assert loss.item() == pytest.approx(0.5)  # entropy log 2 / log 2, no disagreement

    disagree = torch.stack([one_hot, one_hot.flip(1)])[None]  # heads pick different keys
    loss = AttentionConsistencyPrior(consistency_weight=2.0, loss_weight=3.0)(make_ctx(taps_T={'attn': disagree}))
    assert loss.item() == pytest.approx(3 * 2 * 1.0)  # JS = H(mixture) = log 2, normalised to 1


def test_attention_consistency_merged_heads_and_layers():
    torch.manual_seed(0)
    attn = torch.randn(2, 3, 5, 5).softmax(-1).requires_grad_()
    ref = AttentionConsistencyPrior()(make_ctx(taps_T={'attn': attn}))
    merged = AttentionConsistencyPrior(num_heads=3)(make_ctx(taps_T={'attn': attn.reshape(6, 5, 5)}))
    assert merged.item() == pytest.approx(ref.item(), rel=1e-6)
    # With equal weights the loss is the entropy of the head-mean map / log T.
    mean = attn.mean(1)
    assert ref.item() == pytest.approx((-(mean * mean.log()).sum(-1).mean() / math.log(5)).item(), rel=1e-5)
    ref.backward()
    assert attn.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='num_heads'):
        AttentionConsistencyPrior()(make_ctx(taps_T={'attn': attn.detach().reshape(6, 5, 5)}))
    other = torch.randn(2, 3, 5, 5).softmax(-1)
    pooled = AttentionConsistencyPrior(across_layers=True)(make_ctx(taps_T={'attn': [attn.detach(), other]}))
    per_layer = AttentionConsistencyPrior()(make_ctx(taps_T={'attn': [attn.detach(), other]}))
    assert pooled > per_layer  # disagreement between layers adds to the consistency term


# ---------------------------------------------------------------- norm statistics
def _bn_net():
    return nn.Sequential(nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4),
                         nn.BatchNorm2d(4, track_running_stats=False)).eval()


def _match_stats(net, x):
    """Set each tracked BN's running stats to its input's batch stats on x."""
    h = x
    for module in net:
        if isinstance(module, nn.BatchNorm2d) and module.track_running_stats:
            module.running_mean.copy_(h.mean((0, 2, 3)))
            module.running_var.copy_(h.var((0, 2, 3), unbiased=False))
        h = module(h)


def test_norm_stats_zero_when_matched():
    torch.manual_seed(0)
    net = _bn_net()
    x = torch.randn(4, 3, 8, 8) * 2 + 1
    with torch.no_grad():
        _match_stats(net, x)
    prior = NormStatsPrior(loss_weight=1.0)
    prior.setup(net)
    assert len(prior._handles) == 2  # the untracked BN is skipped
    net(x)
    assert prior(make_ctx(images=x)).item() == pytest.approx(0, abs=1e-4)

    y = (torch.randn(4, 3, 8, 8) * 0.5 - 1).requires_grad_()
    net(y)
    loss = prior(make_ctx(images=y))
    assert loss > 0.5
    loss.backward()
    assert y.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in net.parameters() if not p.requires_grad)
    with pytest.raises(RuntimeError, match='no teacher forward'):
        prior(make_ctx(images=y))
    prior.setup(net)  # re-setup replaces the hooks
    assert len(prior._handles) == 2
    prior.remove_hooks()
    net(x)
    assert not prior._losses


def test_norm_stats_without_bn_warns_and_is_zero():
    prior = NormStatsPrior()
    with pytest.raises(RuntimeError, match='setup'):
        prior(make_ctx())
    with pytest.warns(UserWarning, match='no batch-norm'):
        prior.setup(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2), nn.GroupNorm(1, 2)))
    assert prior(make_ctx()).item() == 0


# ---------------------------------------------------------------- detection task
class _FakeDetector(nn.Module):

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0), requires_grad=False)

    def loss(self, inputs, data_samples):
        assert data_samples == ['sample']
        return {'loss_cls': (inputs * self.scale).mean(), 'loss_bbox': [inputs.sum(), inputs.sum() * 0 + 1],
                'acc': torch.tensor(99.0)}


def test_det_task_sums_loss_entries():
    images = torch.ones(1, 3, 2, 2, requires_grad=True)
    ctx = make_ctx(images=images, teacher=_FakeDetector(), data_samples=['sample'])
    loss = DetTaskPrior(loss_weight=0.5)(ctx)
    assert loss.item() == pytest.approx(0.5 * (2 + 12 + 1))
    loss.backward()
    assert images.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='layout sampler'):
        DetTaskPrior()(make_ctx(teacher=_FakeDetector()))


def test_det_task_with_mmdet_detector():
    pytest.importorskip('mmcv.ops', reason='mmcv with ops is not installed')
    from mmengine.registry import init_default_scope

    from mmdfkd.models.generators import LayoutSampler
    from mmdfkd.models.tasks import DetectionTask
    from mmdfkd.registry import MODELS
    init_default_scope('mmdfkd')
    torch.manual_seed(0)
    teacher = MODELS.build(dict(
        type='RetinaNet', data_preprocessor=dict(type='DetDataPreprocessor'),
        backbone=dict(type='ResNet', depth=18, num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(1, ),
                      base_channels=8),
        neck=dict(type='FPN', in_channels=[16], out_channels=16, num_outs=1),
        bbox_head=dict(type='RetinaHead', num_classes=3, in_channels=16, feat_channels=16, stacked_convs=1,
                       anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=1,
                                             ratios=[1.0], strides=[8]),
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True), loss_bbox=dict(type='L1Loss')),
        train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0),
                       sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1, debug=False))).eval()
    teacher.requires_grad_(False)
    images = torch.randn(2, 3, 64, 64, requires_grad=True)
    layout = LayoutSampler(min_size=16, max_size=32, max_objects=2)(2, 64, 3)
    ctx = make_ctx(images=images, teacher=teacher, data_samples=DetectionTask.data_samples(images, layout))
    loss = DetTaskPrior()(ctx)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert images.grad.abs().sum() > 0


def test_priors_built_from_registry():
    from mmengine.registry import init_default_scope

    from mmdfkd.registry import MODELS
    init_default_scope('mmdfkd')
    for cls in (AdversarialPrior, AttentionConsistencyPrior, ConfidencePrior, DetTaskPrior, L2Prior, NormStatsPrior,
                PatchSimilarityEntropyPrior, TVPrior):
        prior = MODELS.build(dict(type=cls.__name__, loss_weight=0.5))
        assert isinstance(prior, cls) and prior.loss_weight == 0.5
