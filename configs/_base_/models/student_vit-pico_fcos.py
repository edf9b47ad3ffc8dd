# Student for Digits-Det: a pico plain ViT + SimpleFPN + the teacher's FCOS head type and
# strides (8, 16, 32), so dense-head KD compares the same points. < 1/5 of the teacher's
# parameters (tests/test_configs.py checks the ratio).
_base_ = './vitdet-tiny_fcos.py'

embed_dim = 64
neck_channels = 64

model = dict(
    backbone=dict(embed_dim=embed_dim, depth=4, num_heads=2, global_attn_indexes=(1, 3), drop_path_rate=0.0),
    neck=dict(in_channels=embed_dim, out_channels=neck_channels),
    bbox_head=dict(in_channels=neck_channels, feat_channels=neck_channels))
