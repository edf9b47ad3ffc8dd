import pytest
import torch

from mmdfkd.models.layers import ConvStem
from mmdfkd.registry import MODELS
from mmdfkd.structures import ClsDataSample
from mmdfkd.testing import demo_cls_inputs

TINY = dict(
    type='TimmClassifier',
    model_name='deit_tiny_patch16_224',
    model_kwargs=dict(img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=2, num_classes=10))


def _batch(model, batch_size=2):
    return model.data_preprocessor(demo_cls_inputs(batch_size=batch_size), training=True)


def test_tensor_mode_returns_logits():
    model = MODELS.build(TINY)
    data = _batch(model)
    assert data['inputs'].shape == (2, 3, 32, 32) and data['inputs'].dtype == torch.float32
    assert data['inputs'].min() >= -1 and data['inputs'].max() <= 1
    logits = model(**data, mode='tensor')
    assert logits.shape == (2, 10)


def test_forward_features_and_named_taps():
    model = MODELS.build(TINY)
    feats = model.forward_features(torch.zeros(2, 3, 32, 32))
    assert feats.shape == (2, 1 + 16, 16)  # class token + (32 / 8) ** 2 patches
    names = dict(model.named_modules())
    assert 'model.blocks.1.attn' in names and 'model.head' in names


def test_loss_mode_backpropagates():
    model = MODELS.build(dict(TINY, label_smoothing=0.1))
    losses = model(**_batch(model), mode='loss')
    assert set(losses) == {'loss_cls'} and losses['loss_cls'].dim() == 0
    losses['loss_cls'].backward()
    assert model.model.head.weight.grad is not None


def test_loss_mode_without_labels_says_what_to_do():
    model = MODELS.build(TINY)
    with pytest.raises(ValueError, match='PackClsInputs'):
        model(torch.zeros(1, 3, 32, 32), [ClsDataSample()], mode='loss')


def test_predict_mode_returns_samples():
    model = MODELS.build(TINY).eval()
    data = _batch(model, batch_size=3)
    samples = model(**data, mode='predict')
    assert len(samples) == 3
    for sample in samples:
        assert isinstance(sample, ClsDataSample)
        assert sample.pred_score.shape == (10, )
        assert torch.allclose(sample.pred_score.sum(), torch.tensor(1.0))
        assert sample.pred_label == sample.pred_score.argmax() and 'gt_label' in sample
    fresh = model(data['inputs'], mode='predict')
    assert len(fresh) == 3 and 'gt_label' not in fresh[0]


def test_checkpoint_loads_and_survives_init_weights(tmp_path):
    trained = MODELS.build(TINY)
    torch.save(dict(state_dict=trained.state_dict()), tmp_path / 'ckpt.pth')
    loaded = MODELS.build(dict(TINY, checkpoint=str(tmp_path / 'ckpt.pth')))
    loaded.init_weights()
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(loaded.eval()(x), trained.eval()(x))
    torch.save(trained.model.state_dict(), tmp_path / 'timm.pth')  # a plain timm state dict
    MODELS.build(dict(TINY, checkpoint=str(tmp_path / 'timm.pth')))
    with pytest.raises(RuntimeError, match='model_kwargs'):
        MODELS.build(dict(TINY, model_kwargs=dict(TINY['model_kwargs'], depth=1),
                          checkpoint=str(tmp_path / 'ckpt.pth')))


def test_pretrained_download_is_refused():
    with pytest.raises(ValueError, match='checkpoint'):
        MODELS.build(dict(TINY, model_kwargs=dict(TINY['model_kwargs'], pretrained=True)))


def test_pretrained_starts_training_at_another_image_size(tmp_path):
    trained = MODELS.build(TINY)
    torch.save(dict(state_dict=trained.state_dict()), tmp_path / 'ckpt.pth')
    bigger = MODELS.build(dict(TINY, model_kwargs=dict(TINY['model_kwargs'], img_size=40),
                               pretrained=str(tmp_path / 'ckpt.pth')))
    before = bigger.model.pos_embed.detach().clone()
    bigger.init_weights()  # what the Runner calls: loads, with the 4x4 position grid resampled to 5x5
    assert bigger.model.pos_embed.shape == (1, 26, 16) and not torch.equal(bigger.model.pos_embed, before)
    assert torch.equal(bigger.model.pos_embed[:, 0], trained.model.pos_embed[:, 0])  # class token's row kept
    assert torch.equal(bigger.model.blocks[1].mlp.fc2.weight, trained.model.blocks[1].mlp.fc2.weight)
    assert bigger(torch.randn(1, 3, 40, 40)).shape == (1, 10)


def test_conv_stem_keeps_the_token_grid_and_trains():
    plain = MODELS.build(TINY)
    hybrid = MODELS.build(dict(TINY, stem='conv'))
    assert isinstance(hybrid.model.patch_embed.proj, ConvStem)
    x = torch.randn(2, 3, 32, 32)
    # Same tokens as the plain ViT: a class token and a 4x4 grid, the same position table.
    assert hybrid.forward_features(x).shape == plain.forward_features(x).shape == (2, 17, 16)
    assert hybrid.model.pos_embed.shape == plain.model.pos_embed.shape
    losses = hybrid(**_batch(hybrid), mode='loss')
    losses['loss_cls'].backward()
    assert hybrid.model.patch_embed.proj.layers[0].weight.grad.abs().sum() > 0
    narrow = MODELS.build(dict(TINY, stem='conv', stem_channels=4))
    assert narrow.model.patch_embed.proj.layers[0].out_channels == 4
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in hybrid.parameters())


@pytest.mark.parametrize('patch_size, convs', [(2, 2), (8, 6), (16, 8)])
def test_conv_stem_strides_by_the_patch_size(patch_size, convs):
    stem = ConvStem(3, 24, patch_size, base_channels=4)
    assert stem(torch.zeros(1, 3, 32, 48)).shape == (1, 24, 32 // patch_size, 48 // patch_size)
    # one full-resolution conv, log2(p) stride-2 convs, a stride-1 conv after all but the last, the 1x1
    assert sum(isinstance(m, torch.nn.Conv2d) for m in stem.modules()) == convs + 1


def test_layer_norm_stem_keeps_no_batch_statistics():
    # A data-free student's stem: each image is normalised on its own, so real images at test time
    # meet no statistics of the synthetic batches it trained on.
    torch.manual_seed(0)
    stem = ConvStem(3, 24, 8, base_channels=4, norm='layer').train()
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in stem.modules())
    assert not list(stem.buffers())
    x = torch.randn(4, 3, 32, 32)
    alone = stem(x[:1])
    assert torch.allclose(stem(x)[:1], alone, atol=1e-6)           # independent of the rest of the batch
    assert torch.allclose(stem.eval()(x[:1]), alone, atol=1e-6)    # and the same in train and eval mode
    batch_stem = ConvStem(3, 24, 8, base_channels=4).train()
    assert not torch.allclose(batch_stem(x)[:1], batch_stem(x[:1]), atol=1e-3)
    student = MODELS.build(dict(TINY, stem='conv', stem_channels=4, stem_norm='layer'))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in student.modules())


def test_conv_stem_errors_name_the_fix():
    with pytest.raises(ValueError, match='power of two'):
        ConvStem(3, 16, 6)
    with pytest.raises(ValueError, match="norm must be 'batch' or 'layer'"):
        ConvStem(3, 16, 8, norm='group')
    with pytest.raises(ValueError, match="'patch' or 'conv'"):
        MODELS.build(dict(TINY, stem='hybrid'))
    with pytest.raises(ValueError, match="stem='patch'"):
        MODELS.build(dict(type='TimmClassifier', model_name='resnet18', model_kwargs=dict(num_classes=10),
                          stem='conv'))
