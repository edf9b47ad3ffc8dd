"""SimpleFPN and LN2d."""
import pytest
import torch

from mmdfkd.models.layers import LN2d
from mmdfkd.models.necks import SimpleFPN


def test_simple_fpn_builds_all_scales_and_extra_levels_on_non_square_map():
    neck = SimpleFPN(in_channels=48, out_channels=32, num_outs=5)
    neck.init_weights()
    outs = neck((torch.randn(2, 48, 4, 6), ))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 16, 24), (2, 32, 8, 12), (2, 32, 4, 6), (2, 32, 2, 3),
                                              (2, 32, 1, 2)]


def test_simple_fpn_subset_of_scales():
    neck = SimpleFPN(in_channels=48, out_channels=16, scale_factors=(2.0, 1.0, 0.5))
    outs = neck([torch.randn(1, 48, 8, 8)])
    assert [o.shape[-1] for o in outs] == [16, 8, 4]


@pytest.mark.parametrize('kwargs', [dict(scale_factors=(1.0, 2.0)), dict(scale_factors=(3.0, )),
                                    dict(scale_factors=(2.0, 1.0), num_outs=1)])
def test_simple_fpn_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        SimpleFPN(in_channels=48, out_channels=16, **kwargs)


def test_ln2d_normalises_over_channels():
    x = torch.randn(2, 8, 3, 5) * 4 + 2
    y = LN2d(8)(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 3, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(2, 3, 5), atol=1e-3, rtol=0)
