# configs/dfkd_vitdet-b-mask-rcnn_vit-s_coco.py with a teacher checkpoint saved by detectron2's
# projects/ViTDet (mask_rcnn_vitdet_b_100ep): a .pth written by detectron2's DetectionCheckpointer
# ({'model': state dict}), put at `teacher_checkpoint`. Keys (backbone.net.*, backbone.simfp_*,
# proposal_generator.*, roi_heads.*) are renamed to ours and the position table resized on load
# (mmdfkd/models/checkpoint_layouts.py, layout 'detectron2-vitdet'); a key that does not map is an
# error that lists it.
#   bash tools/dist_train.sh configs/dfkd_vitdet-b-mask-rcnn_vit-s_coco_from-detectron2.py 8
_base_ = './dfkd_vitdet-b-mask-rcnn_vit-s_coco.py'

teacher_checkpoint = 'checkpoints/mask_rcnn_vitdet_b_100ep.pth'

model = dict(teacher=dict(checkpoint=teacher_checkpoint, checkpoint_layout='detectron2-vitdet'))
