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


def test_pyramid_levels_are_contiguous_so_mmcv_roi_align_reads_the_box():
    """mmcv's RoIAlign indexes raw NCHW memory; on a channels-last view it pools the wrong pixels.

    A two-stage head on SimpleFPN once learned nothing for this reason: pooled features at the
    ground-truth boxes classified digits at chance. Each level must be contiguous, and RoIAlign
    on it must equal torchvision's, which reads strides.
    """
    torchvision_ops = pytest.importorskip('torchvision.ops')
    from mmcv.ops import roi_align

    torch.manual_seed(0)
    fpn = SimpleFPN(in_channels=48, out_channels=16, scale_factors=(1.0, 0.5), num_outs=2).eval()
    rois = torch.tensor([[0, 10.0, 12.0, 60.0, 70.0], [1, 30.0, 5.0, 90.0, 40.0]])
    with torch.no_grad():
        level = fpn((torch.randn(2, 48, 16, 16), ))[0]
        assert level.is_contiguous()
        ours = roi_align(level, rois, (7, 7), 1 / 8, 0, 'avg', True)
        reference = torchvision_ops.roi_align(level, rois, 7, 1 / 8, 0, True)
    torch.testing.assert_close(ours, reference)
