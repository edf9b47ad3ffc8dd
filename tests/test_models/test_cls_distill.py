"""Data-free distillation of classifiers: attention taps, losses, configs and a short run."""
import torch
from mmengine.registry import init_default_scope

from mmdfkd.models.recorders import ModuleRecorder
from mmdfkd.registry import MODELS

init_default_scope('mmdfkd')


def tiny_vit(embed_dim: int = 16, depth: int = 2, num_heads: int = 2, **kwargs) -> dict:
    """A timm ViT classifier for 32x32 inputs (16 patches + class token)."""
    return dict(type='TimmClassifier', model_name='vit_tiny_patch16_224',
                model_kwargs=dict(img_size=32, patch_size=8, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                                  num_classes=10), **kwargs)


def test_expose_attention_records_probabilities_with_unchanged_outputs():
    torch.manual_seed(0)
    fused = MODELS.build(tiny_vit()).eval()
    explicit = MODELS.build(tiny_vit(expose_attention=True)).eval()
    explicit.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 32, 32)
    recorder = ModuleRecorder(explicit, dict(attn=[f'model.blocks.{i}.attn.attn_drop' for i in range(2)]))
    with recorder:
        logits = explicit(x)
    torch.testing.assert_close(logits, fused(x), atol=1e-5, rtol=1e-5)
    attn = recorder.taps['attn']
    assert [tuple(a.shape) for a in attn] == [(2, 2, 17, 17)] * 2
    torch.testing.assert_close(attn[1].sum(-1), torch.ones(2, 2, 17))
