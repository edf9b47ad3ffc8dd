# The conv generator run (dfkd_vitdet-tiny_vit-pico_digits-det_conv-gen.py) with the seed paper's transformer-augmented
# GAN (arXiv 2408.05952) as generator: a layout-conditioned TransformerGenerator trained with
# L_G = task + smoothness + attention consistency on the teacher ViT's global attention maps
#     (+ the adversarial discrepancy after a warm-up). Same schedule and student steps.
#
#   python tools/train.py configs/dfkd_vitdet-tiny_vit-pico_digits-det_vit-gen.py
#
# The teacher is built from its config with expose_attention=True (explicit attention instead of
# the fused kernel; same weights), so forward hooks on `attn_drop` see the maps.
_base_ = './dfkd_vitdet-tiny_vit-pico_digits-det_conv-gen.py'

attn_blocks = (2, 5)     # the teacher's global-attention blocks (configs/_base_/models/vitdet-tiny_fcos.py)

model = dict(
    teacher=dict(cfg_options={'model.backbone.expose_attention': True}),
    # (B * heads, T, T) maps, batch major and head minor: see mmdfkd/models/backbones/vit.py
    teacher_taps=dict(attn=[f'backbone.blocks.{i}.attn.attn_drop' for i in attn_blocks]),
    generator=dict(
        _delete_=True,
        type='TransformerGenerator',
        img_size={{_base_.img_size}},
        latent_dim=128,
        patch_size=8,            # 16x16 = 256 tokens for 128x128 images
        embed_dim=128,
        depth=4,
        num_heads=4,
        num_classes=10),         # layout-conditioned: the layout is embedded into the tokens
    priors=dict(attn=dict(type='AttentionConsistencyPrior', tap='attn', num_heads=3, loss_weight=1.0)))

# a transformer generator wants a lower learning rate than the conv one (1e-3)
optim_wrapper = dict(generator=dict(optimizer=dict(lr=2e-4)))
