# The headline (configs/dfkd_vitdet_tiny.py), faster: the same teacher, student, generator,
# layouts, losses and 100-iteration sprite warm-up, with the work per student update cut (issue 16).
#
#   python tools/train.py configs/dfkd_vitdet_tiny_fast.py
#
# What changes, and why (README "Data-free detection", "A faster headline"):
# - `teacher_reuse=8`: the teacher labels one new batch per 8 student steps; the other steps train
#   on batches it labelled before (a pool of the last 8: images, the teacher's taps and its decoded
#   detections). The student's own forward is always recomputed.
# - `student_steps=8`: 8 student updates per sprite update after the warm-up instead of 4, so the
#   sprite step (a teacher forward and backward) is spread over twice the updates.
# - 350 iterations (100 sprite-only + 250 x 8 = 2,000 student updates) instead of 550
#   (100 + 450 x 4 = 1,800).
# - `amp='auto'`: bf16 autocast where the CPU computes bf16 natively (fp16 AMP on a GPU), fp32
#   elsewhere; the headline runs in fp32 unless given --amp.
_base_ = './dfkd_vitdet_tiny.py'

max_iters = 350
warmup_iters = 100  # as the headline; drives both the distiller's warm-up and the student's schedule below

model = dict(student_steps=8, teacher_reuse=8, labelled_pool_size=8, generator_warmup_iters=warmup_iters)
train_cfg = dict(max_iters=max_iters)
param_scheduler = dict(
    generator=[dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)],
    student=[dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, end=max_iters,
                  T_max=max_iters - warmup_iters, eta_min=1e-5)])
amp = 'auto'
