"""Generators: shapes, pixel range, gradients, reset, layouts."""
import pytest
import torch

from mmdfkd.models.generators import (
    ConvGenerator,
    LayoutSampler,
    PixelBankGenerator,
    TransformerGenerator,
    render_layout,
)

LAYOUT = [
    dict(bboxes=torch.tensor([[0., 0., 16., 16.], [20., 8., 40., 30.]]), labels=torch.tensor([1, 2])),
    dict(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)),
]


def _check_output(gen, batch_size, size, layout=None):
    out = gen(batch_size, layout)
    assert out.shape == (batch_size, 3, *size)
    assert out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 255
    out.mean().backward()
    grads = [p.grad for p in gen.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    return out


def test_pixel_bank_shape_grad_and_reset():
    torch.manual_seed(0)
    gen = PixelBankGenerator(img_size=(32, 48), batch_size=2)
    assert gen.holds_batch and gen.img_size == (32, 48) and gen.latent_dim is None
    out = _check_output(gen, 2, (32, 48))
    # smooth initial noise: neighbours differ much less than random pairs of pixels
    shuffled = out.flatten()[torch.randperm(out.numel())].view_as(out)
    assert (out[..., 1:] - out[..., :-1]).abs().mean() < (out - shuffled).abs().mean() / 3
    param = gen.logits
    before = param.detach().clone()
    gen.reset()
    assert gen.logits is param  # in place: an optimizer keeps pointing at it
    assert not torch.equal(before, gen.logits.detach())
    with pytest.raises(ValueError, match='holds 2 images'):
        gen(3)


@pytest.mark.parametrize('size', [(32, 32), (64, 48)])
def test_conv_generator(size):
    torch.manual_seed(0)
    gen = ConvGenerator(img_size=size, latent_dim=16, channels=(16, 8, 8, 4))
    assert not gen.holds_batch and gen.latent_dim == 16 and gen.init_size == (size[0] // 8, size[1] // 8)
    _check_output(gen, 2, size)
    state = {k: v.clone() for k, v in gen.state_dict().items()}
    gen.reset()
    assert all(torch.equal(v, gen.state_dict()[k]) for k, v in state.items())


def test_conv_generator_conditional_uses_layout():
    torch.manual_seed(0)
    gen = ConvGenerator(img_size=48, latent_dim=8, channels=(8, 8, 8, 8), num_classes=3).eval()
    _check_output(gen, 2, (48, 48), LAYOUT)
    torch.manual_seed(1)
    a = gen(2, LAYOUT)
    torch.manual_seed(1)
    b = gen(2, None)
    assert not torch.allclose(a[0], b[0])
    assert torch.allclose(a[1], b[1])  # empty layout == no layout


def test_conv_generator_bad_size():
    with pytest.raises(ValueError, match='multiple of 8'):
        ConvGenerator(img_size=30)


def test_latent_uses_global_rng():
    gen = ConvGenerator(img_size=16, latent_dim=8, channels=(8, 8, 8, 8)).eval()
    torch.manual_seed(3)
    a = gen(2)
    torch.manual_seed(3)
    assert torch.equal(a, gen(2))


@pytest.mark.parametrize('num_classes', [None, 3])
def test_transformer_generator(num_classes):
    torch.manual_seed(0)
    gen = TransformerGenerator(img_size=(32, 48), latent_dim=16, embed_dim=32, depth=2, num_heads=2,
                               num_classes=num_classes)
    assert gen.patch_size == 4 and gen.grid == (8, 12)
    _check_output(gen, 2, (32, 48), LAYOUT if num_classes else None)


def test_transformer_generator_token_batch_norm_gives_each_channel_unit_variance_over_the_batch():
    torch.manual_seed(0)
    gen = TransformerGenerator(img_size=16, latent_dim=8, embed_dim=16, depth=1, num_heads=2, token_norm='batch')
    seen = []
    gen.token_norm.register_forward_hook(lambda m, i, o: seen.append(o))
    _check_output(gen, 4, (16, 16), None)
    tokens = seen[-1]  # (N, D, T)
    assert torch.allclose(tokens.transpose(0, 1).flatten(1).var(1, unbiased=False), torch.ones(16), atol=1e-3)
    with pytest.raises(ValueError, match="token_norm must be None or 'batch'"):
        TransformerGenerator(img_size=16, token_norm='layer')


@pytest.mark.parametrize('num_classes', [None, 3])
def test_transformer_generator_conv_decoder(num_classes):
    torch.manual_seed(0)
    gen = TransformerGenerator(img_size=(32, 16), latent_dim=8, patch_size=8, embed_dim=64, depth=1, num_heads=2,
                               decoder='conv', num_classes=num_classes)
    assert len(gen.up) == 3 and gen.refine is None and not hasattr(gen, 'to_patches')
    _check_output(gen, 2, (32, 16), LAYOUT if num_classes else None)
    with pytest.raises(ValueError, match='power of 2'):
        TransformerGenerator(img_size=24, patch_size=6, decoder='conv')
    with pytest.raises(ValueError, match="decoder must be 'linear' or 'conv'"):
        TransformerGenerator(img_size=16, decoder='deconv')


def test_transformer_generator_auto_patch_size():
    gen = TransformerGenerator(img_size=128, latent_dim=8, embed_dim=16, depth=1, num_heads=2)
    assert gen.patch_size == 8 and gen.grid == (16, 16)
    with pytest.raises(ValueError, match='patch_size'):
        TransformerGenerator(img_size=30, patch_size=4)


def test_render_layout():
    maps = render_layout(LAYOUT, 3, (40, 40), (4, 4), 2, torch.device('cpu'))
    assert maps.shape == (2, 4, 4, 4)
    # box [0, 0, 16, 16] of class 1 covers pixel centres 5 and 15 -> cells (0..1, 0..1)
    assert maps[0, 1, :2, :2].eq(1).all() and maps[0, 1].sum() == 4
    assert maps[0, 2].sum() > 0 and maps[0, 0].sum() == 0
    assert torch.equal(maps[0, 3], maps[0, :3].amax(dim=0))
    assert maps[1].sum() == 0
    assert render_layout(None, 3, (40, 40), (4, 4), 2, torch.device('cpu')).sum() == 0
    with pytest.raises(ValueError, match='one layout dict per image'):
        render_layout(LAYOUT, 3, (40, 40), (4, 4), 3, torch.device('cpu'))


def test_layout_sampler_bounds():
    torch.manual_seed(0)
    sampler = LayoutSampler(min_size=10, max_size=20, max_objects=4, max_iou=0.1)
    layouts = sampler(16, (64, 48), num_classes=5)
    assert len(layouts) == 16
    counts = set()
    for item in layouts:
        boxes, labels = item['bboxes'], item['labels']
        assert 1 <= len(boxes) <= 4 and len(labels) == len(boxes) and labels.dtype == torch.long
        counts.add(len(boxes))
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        assert (w >= 10 - 1e-4).all() and (w <= 20 + 1e-4).all() and (h >= 10 - 1e-4).all() and (h <= 20 + 1e-4).all()
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 48 + 1e-4).all() and (boxes[:, 3] <= 64 + 1e-4).all()
        assert ((labels >= 0) & (labels < 5)).all()
        iou = _iou(boxes)
        assert (iou.triu(1) <= 0.1 + 1e-6).all()
    assert len(counts) > 1
    torch.manual_seed(0)
    again = sampler(16, (64, 48), num_classes=5)
    assert all(torch.equal(a['bboxes'], b['bboxes']) for a, b in zip(layouts, again))
    with pytest.raises(ValueError, match='min_size'):
        LayoutSampler(min_size=30, max_size=40)(1, 16, 2)


def _iou(boxes):
    from mmdet.structures.bbox import bbox_overlaps
    return bbox_overlaps(boxes, boxes)


def test_built_from_registry():
    from mmengine.registry import init_default_scope

    from mmdfkd.registry import MODELS
    init_default_scope('mmdfkd')
    gen = MODELS.build(dict(type='ConvGenerator', img_size=16, latent_dim=8, channels=(8, 8, 8, 8)))
    assert isinstance(gen, ConvGenerator)
    assert isinstance(MODELS.build(dict(type='LayoutSampler')), LayoutSampler)
    assert MODELS.get('PixelBankGenerator') is PixelBankGenerator
    assert MODELS.get('TransformerGenerator') is TransformerGenerator
