# The headline (configs/dfkd_vitdet_tiny.py) with the seed paper's transformer generator (arXiv
# 2408.05952) drawing the objects: SpriteTransformerGenerator maps each object's class and a new
# latent to its matte through transformer blocks, adds the class's learned prototype matte, and the
# sprite bank's composition puts the mattes into the layout's boxes.
# L_G = the teacher's detection loss against the layout + attention consistency on the teacher
# ViT's global attention maps (the seed paper's prior).
# Everything else (layouts, appearance, student, losses, schedule) is the headline's.
#
#   python tools/train.py configs/dfkd_vitdet-tiny_vit-pico_digits-det_sprite-vit-gen.py
#
# The teacher is built with expose_attention=True (explicit attention instead of the fused kernel;
# same weights), so forward hooks on `attn_drop` see the maps.
_base_ = './dfkd_vitdet_tiny.py'

attn_blocks = (2, 5)     # the teacher's global-attention blocks (configs/_base_/models/vitdet-tiny_fcos.py)

model = dict(
    teacher=dict(cfg_options={'model.backbone.expose_attention': True}),
    # (B * heads, T, T) maps, batch major and head minor: see mmdfkd/models/backbones/vit.py
    teacher_taps=dict(attn=[f'backbone.blocks.{i}.attn.attn_drop' for i in attn_blocks]),
    generator=dict(_delete_=True, type='SpriteTransformerGenerator', img_size={{_base_.img_size}}, num_classes=10,
                   sprite_size=16, patch_size=4, latent_dim=32, embed_dim=64, depth=2, num_heads=4,
                   prototypes=True, opaque=True, background='random', ink='random'),
    priors=dict(attn=dict(type='AttentionConsistencyPrior', tap='attn', num_heads=3, loss_weight=1.0)))

# the network at 1e-3 (the bank's 0.1 would throw its weights around); the prototypes, directly
# optimised logits like the bank's sprites, at the bank's 0.1
optim_wrapper = dict(generator=dict(optimizer=dict(lr=1e-3),
                                    paramwise_cfg=dict(custom_keys={'prototypes': dict(lr_mult=100.0)})))
