# Data-free distillation of a ViT classifier, the seed paper's method (arXiv 2408.05952,
# "transformer-augmented GAN"), shared by every classification config (configs/dfkd_deit-*_*.py):
#   generator  L_G = λ_adv·L_adv [AdversarialPrior: -KL(teacher‖student)]
#                  + λ_attn·L_attention [AttentionConsistencyPrior on the teacher's attention maps]
#                  + DAFL confidence / class balance [ConfidencePrior]
#                  + λ_BN·DeepInversion feature statistics [NormStatsPrior; 0 without batch norm]
#   student    L_S = λ_KD·τ²·KL(softmax(T/τ) ‖ softmax(S/τ)) [KLDivLoss]
#                  + λ_CE·CE(S, argmax T) [PseudoLabelCELoss]
#                  + λ_patch·patch-attention KD [AttentionKDLoss, head-averaged attention rows]
# on batches replayed from a memory of everything synthesised so far.
#
# Not a config to train: a scale config (teacher, student, generator, taps, augmentation, train
# loader, schedule) inherits it next to its dataset, e.g.
#   _base_ = ['./_base_/datasets/digits-cls.py', './_base_/dfkd_cls.py']
# and states `model.distill_losses.kd.tau` and its other scale values itself (a child's top-level
# variable does not reach back into this file's dicts).
_base_ = ['./default_runtime.py']

# ---- loss weights, the same at every scale ----
kd_weight = 1.0          # λ_KD
ce_weight = 0.5          # λ_CE
patch_weight = 1.0       # λ_patch
adv_weight = 1.0         # λ_adv
attn_weight = 0.2        # λ of the attention-consistency prior
conf_weight = 0.5        # DAFL one-hot confidence
balance_weight = 2.0     # DAFL class balance (relative to conf_weight)
bn_weight = 0.2          # DeepInversion batch-norm statistics; 0 for a teacher without batch norm

model = dict(
    type='DataFreeDistiller',
    task='cls',
    priors=dict(
        adv=dict(type='AdversarialPrior', tap='logits', mode='kl', loss_weight=adv_weight),
        attn=dict(type='AttentionConsistencyPrior', tap='attn', loss_weight=attn_weight),
        conf=dict(type='ConfidencePrior', balance_weight=balance_weight, loss_weight=conf_weight),
        # the batch-norm layers a hybrid teacher's conv stem holds (the Glyphs-Cls teacher's six)
        bn=dict(type='NormStatsPrior', loss_weight=bn_weight)),
    distill_losses=dict(
        kd=dict(type='KLDivLoss', tap='logits', loss_weight=kd_weight),  # tau: per scale
        ce=dict(type='PseudoLabelCELoss', tap='logits', loss_weight=ce_weight),
        patch=dict(type='AttentionKDLoss', tap='patch_attn', mode='attention', loss_weight=patch_weight)),
    # one generator step and two student steps per iteration; generator configs change them
    generator_steps=1,
    student_steps=2)

train_cfg = dict(type='IterBasedTrainLoop')  # max_iters, val_interval: per scale
# Validation during training scores a fixed 100-image subset of the val split; the validation after
# the last iteration (and tools/test.py) scores all of it.
val_cfg = dict(type='SubsetValLoop', num_samples=100)
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    constructor='DataFreeOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.5, 0.999))),
    student=dict(optimizer=dict(type='AdamW', weight_decay=0.05), clip_grad=dict(max_norm=5.0)))  # lr: per scale
# One entry per optimizer (MMEngine's OptimWrapperDict needs both keys); the generator's lr is
# constant, the student's schedule is per scale.
param_scheduler = dict(generator=[])

default_hooks = dict(checkpoint=dict(by_epoch=False, save_best='accuracy/top1', rule='greater'))
