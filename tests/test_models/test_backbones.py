"""ViT backbone: shapes, named taps, size checks and pretrained loading."""
import pytest
import torch

from mmdfkd.models.backbones import ViT


def tiny_vit(**kwargs) -> ViT:
    cfg = dict(img_size=64, patch_size=16, embed_dim=48, depth=2, num_heads=3, window_size=2,
               global_attn_indexes=(1, ), drop_path_rate=0.0)
    cfg.update(kwargs)
    return ViT(**cfg)


@pytest.mark.parametrize('size', [(64, 64), (48, 80)])
def test_vit_outputs_last_map_for_square_and_non_square_inputs(size):
    model = tiny_vit()
    model.init_weights()
    outs = model(torch.randn(2, 3, *size))
    assert isinstance(outs, tuple) and len(outs) == 1
    assert outs[0].shape == (2, 48, size[0] // 16, size[1] // 16)


def test_vit_rejects_sizes_not_divisible_by_patch_and_names_valid_ones():
    with pytest.raises(ValueError, match='height of 48 or 64 and a width of 64'):
        tiny_vit()(torch.randn(1, 3, 50, 64))


def test_vit_global_attn_indexes_out_of_range():
    with pytest.raises(ValueError, match='outside'):
        tiny_vit(global_attn_indexes=(2, ))


def test_vit_named_taps_have_documented_shapes():
    model = tiny_vit(expose_attention=True).eval()
    shapes = {}
    names = ['patch_embed', 'blocks.0', 'blocks.0.attn', 'blocks.0.attn.attn_drop', 'blocks.1.attn',
             'blocks.1.attn.attn_drop', 'blocks.1.mlp']
    for name in names:
        model.get_submodule(name).register_forward_hook(
            lambda mod, args, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
    model(torch.randn(2, 3, 48, 80))  # grid 3x5; windows 2x2 -> 2x3 windows per image after padding
    assert shapes['patch_embed'] == (2, 3, 5, 48)
    assert shapes['blocks.0'] == (2, 3, 5, 48)
    assert shapes['blocks.0.attn'] == (2 * 6, 2, 2, 48)
    assert shapes['blocks.0.attn.attn_drop'] == (2 * 6 * 3, 4, 4)
    assert shapes['blocks.1.attn'] == (2, 3, 5, 48)
    assert shapes['blocks.1.attn.attn_drop'] == (2 * 3, 15, 15)
    assert shapes['blocks.1.mlp'] == (2, 15, 48)


def test_vit_attention_maps_are_probabilities_and_match_fused_output():
    fused = tiny_vit(attention='fused').eval()
    explicit = tiny_vit(expose_attention=True).eval()
    explicit.load_state_dict(fused.state_dict())
    maps = []
    explicit.get_submodule('blocks.1.attn.attn_drop').register_forward_hook(lambda m, a, out: maps.append(out))
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(explicit(x)[0], fused(x)[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(3, 16))


def test_vit_attends_explicitly_on_cpu_by_default():
    model, fused_model = tiny_vit().eval(), tiny_vit(attention='fused').eval()
    maps = []
    for m in (model, fused_model):
        m.get_submodule('blocks.1.attn.attn_drop').register_forward_hook(lambda mod, a, out: maps.append(out))
    x = torch.randn(2, 3, 64, 64)
    model(x)
    assert len(maps) == 1 and not model.blocks[1].attn.fused_attn  # the map was computed: no SDPA
    fused_model(x)
    assert len(maps) == 1  # scaled_dot_product_attention: no map


def test_vit_refuses_unknown_attention_and_fused_with_exposed_maps():
    with pytest.raises(ValueError, match="'auto', 'explicit' or 'fused'"):
        tiny_vit(attention='flash')
    with pytest.raises(ValueError, match='never computes'):
        tiny_vit(attention='fused', expose_attention=True)


def _save_deit_style_checkpoint(path, grid: int, embed_dim: int = 48, wrap: str = 'model') -> dict:
    """A timm/DeiT-like checkpoint: class token, (1, 1 + grid^2, C) pos_embed, head, prefixes."""
    source = tiny_vit(img_size=grid * 16)
    state = {f'module.{k}': v.clone() for k, v in source.state_dict().items() if k != 'pos_embed'}
    state['module.pos_embed'] = torch.randn(1, 1 + grid * grid, embed_dim)
    state['module.cls_token'] = torch.zeros(1, 1, embed_dim)
    state['module.head.weight'] = torch.zeros(10, embed_dim)
    torch.save({wrap: state}, path)
    return state


def test_vit_pretrained_interpolates_pos_embed_and_strips_prefixes(tmp_path):
    path = str(tmp_path / 'deit_tiny.pth')
    state = _save_deit_style_checkpoint(path, grid=2)
    model = tiny_vit(img_size=64, init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert model.pos_embed.shape == (1, 4, 4, 48)
    torch.testing.assert_close(model.blocks[0].attn.qkv.weight, state['module.blocks.0.attn.qkv.weight'])
    # the class-token position is dropped and the 2x2 grid interpolated to 4x4
    grid = state['module.pos_embed'][:, 1:].reshape(1, 2, 2, 48).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(grid, size=(4, 4), mode='bicubic', antialias=True)
    torch.testing.assert_close(model.pos_embed, expected.permute(0, 2, 3, 1))
    # global block 1 had 2*2-1 relative positions in the checkpoint, 2*4-1 here: interpolated
    assert model.blocks[1].attn.rel_pos_h.shape == (7, 16)


@pytest.mark.parametrize('prefix', ['backbone.', 'model.'])  # a detector's / mmdfkd TimmClassifier's
def test_vit_pretrained_accepts_state_dict_wrapping_and_prefixes(tmp_path, prefix):
    source = tiny_vit()
    path = str(tmp_path / 'det.pth')
    torch.save({'state_dict': {f'{prefix}{k}': v for k, v in source.state_dict().items()}}, path)
    model = tiny_vit(init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    for k, v in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)


def test_vit_pretrained_missing_file_says_what_to_do(tmp_path):
    model = tiny_vit(init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'missing.pth')))
    with pytest.raises(FileNotFoundError, match='init_cfg.checkpoint'):
        model.init_weights()


class _TrainingArgs:
    """Stands for the argparse namespace that research checkpoints often carry."""


def test_vit_pretrained_refusal_names_the_type_and_never_advises_weights_only_false(tmp_path):
    from mmdfkd.engine.checkpoint import UntrustedCheckpointError
    path = str(tmp_path / 'with_args.pth')
    torch.save({'model': tiny_vit().state_dict(), 'args': _TrainingArgs()}, path)
    model = tiny_vit(init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(UntrustedCheckpointError, match='_TrainingArgs') as info:
        model.init_weights()
    assert 'weights_only=False)' not in str(info.value)


def test_vit_size_error_covers_real_and_synthetic_inputs():
    with pytest.raises(ValueError, match="pad_size_divisor=16.*generator's img_size"):
        tiny_vit()(torch.randn(1, 3, 50, 64))


def test_vit_conv_stem_keeps_the_grid_and_loads_a_hybrid_classifier_stem(tmp_path):
    from mmdfkd.models.classifiers import TimmClassifier
    from mmdfkd.models.layers import ConvStem
    cls = TimmClassifier('deit_tiny_patch16_224', dict(img_size=32, patch_size=16, embed_dim=48, depth=2,
                                                       num_heads=3, num_classes=4), stem='conv')
    with torch.no_grad():
        cls.model.patch_embed.proj.layers[1].running_mean.uniform_()  # BN statistics travel too
    path = str(tmp_path / 'hybrid_cls.pth')
    torch.save({'state_dict': {'model.' + k: v for k, v in cls.model.state_dict().items()}}, path)
    model = tiny_vit(stem='conv', init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert isinstance(model.patch_embed.proj, ConvStem)
    for key, value in cls.model.patch_embed.proj.state_dict().items():
        assert torch.equal(model.patch_embed.proj.state_dict()[key], value), key
    assert model(torch.randn(1, 3, 48, 80))[0].shape == (1, 48, 3, 5)
    with pytest.raises(ValueError, match="'patch' or 'conv'"):
        tiny_vit(stem='hybrid')


def test_vit_stem_channels_sets_the_conv_stem_width_and_keeps_the_grid():
    narrow = tiny_vit(stem='conv', stem_channels=8)
    wide = tiny_vit(stem='conv')
    assert narrow.patch_embed.proj.layers[0].out_channels == 8
    assert wide.patch_embed.proj.layers[0].out_channels == 32
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in wide.parameters())
    assert narrow(torch.randn(1, 3, 64, 64))[0].shape == (1, 48, 4, 4)
    student = tiny_vit(stem='conv', stem_channels=8, stem_norm='layer')
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in student.modules())
    assert student(torch.randn(1, 3, 64, 64))[0].shape == (1, 48, 4, 4)
