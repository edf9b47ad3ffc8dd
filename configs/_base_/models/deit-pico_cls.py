# Student of the Digits-Cls path: the teacher's layout (32x32 images, 8x8
# patches, class token) at half its width and 4 blocks: 0.47 M parameters,
# 17% of the teacher's (configs/_base_/models/deit-nano_cls.py).
model = dict(
    type='TimmClassifier',
    model_name='deit_tiny_patch16_224',
    model_kwargs=dict(img_size=32, patch_size=8, embed_dim=96, depth=4, num_heads=3, num_classes=10),
    data_preprocessor=dict(type='ClsDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True))
