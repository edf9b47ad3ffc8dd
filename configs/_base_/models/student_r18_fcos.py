# Student for Digits-Det: a slim ResNet-18 (base width 12, no pretrained weights) + FPN + the
# teacher's FCOS head type and strides (8, 16, 32), so dense-head KD compares the same points.
# < 1/5 of the teacher's parameters (tests/test_configs.py checks the ratio).
_base_ = './vitdet-tiny_fcos.py'

neck_channels = 64

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        base_channels=12,
        num_stages=4,
        out_indices=(1, 2, 3),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch'),
    neck=dict(
        _delete_=True,
        type='FPN',
        in_channels=[24, 48, 96],
        out_channels=neck_channels,
        start_level=0,
        num_outs=3),
    bbox_head=dict(in_channels=neck_channels, feat_channels=neck_channels))
