# The headline (dfkd_vitdet_tiny.py) with a CNN student instead of the pico ViT: a slim
# ResNet-18 (base width 12, no pretrained weights) + FPN + the teacher's FCOS head type and
# strides (8, 16, 32), so dense-head KD compares the same points; a 1x1 ConvConnector maps its
# 64 FPN channels to the teacher's 128 for feature KD. < 1/5 of the teacher's parameters
# (tests/test_configs.py checks the ratio). ViT teacher -> CNN student, no images.
#
#   python tools/train.py configs/dfkd_vitdet-tiny_r18_digits-det.py
_base_ = './dfkd_vitdet_tiny.py'

neck_channels = 64  # the FPN's out_channels below

# The pico ViT student's FCOS head is kept (at the FPN's width); backbone and neck are replaced.
model = dict(
    student=dict(
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
        bbox_head=dict(in_channels=neck_channels, feat_channels=neck_channels)),
    connectors=dict(feats=dict(type='ConvConnector', in_channels=neck_channels, out_channels=128)))
