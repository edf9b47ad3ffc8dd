# Teacher of the Digits-Cls path: a DeiT (timm VisionTransformer, class token)
# for 32x32 images: 8x8 patches (16 tokens + class token), DeiT-Tiny's width
# (192 channels, 3 heads) at half its depth (6 blocks). 2.71 M parameters.
model = dict(
    type='TimmClassifier',
    model_name='deit_tiny_patch16_224',
    model_kwargs=dict(
        img_size=32, patch_size=8, embed_dim=192, depth=6, num_heads=3, num_classes=10, drop_path_rate=0.1),
    label_smoothing=0.1,
    # [0, 255] -> [-1, 1]; LoadImageFromFile gives BGR.
    data_preprocessor=dict(type='ClsDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True))
