"""Any timm image classifier as an MMEngine model."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import _load_checkpoint

from mmdfkd.models.layers import ConvStem, check_stem
from mmdfkd.registry import MODELS
from mmdfkd.structures import ClsDataSample, stack_gt_labels
from mmdfkd.utils.state_dict import load_state_dict_checked, strip_common_prefix, unwrap_state_dict


@MODELS.register_module()
class TimmClassifier(BaseModel):
    """A timm model built by name, trained and evaluated through MMEngine.

    The timm network is ``self.model``, so its modules keep timm's names under
    a ``model.`` prefix (``model.blocks.3.attn``, ``model.head``): distillation
    recorders tap them by those names.

    Weights never download: timm is always called with ``pretrained=False``;
    ``checkpoint`` loads a local file instead.

    Args:
        model_name (str): a timm model name, e.g. ``'vit_tiny_patch16_224'``.
        model_kwargs (dict, optional): keyword arguments of
            ``timm.create_model``, e.g. ``dict(img_size=32, patch_size=4,
            embed_dim=192, depth=6, num_heads=3, num_classes=10)``.
        checkpoint (str, optional): local checkpoint to load, strictly. Either
            a plain timm ``state_dict`` or a checkpoint of this class saved by
            ``tools/train.py`` (keys under ``state_dict`` prefixed ``model.``).
        label_smoothing (float): label smoothing of the cross-entropy loss.
            Default: 0.
        stem (str): ``'patch'`` keeps timm's patch embedding; ``'conv'``
            replaces a ViT's patchify convolution by a
            :class:`~mmdfkd.models.layers.ConvStem` of the same stride (a
            hybrid ViT: same tokens, position table and blocks). Default:
            ``'patch'``.
        stem_channels (int): width of the conv stem's first layer
            (``ConvStem.base_channels``; its widest is 4x). Default: 32.
        stem_norm (str): the conv stem's norm, ``'batch'`` or ``'layer'``
            (``ConvStem.norm``; a data-free student wants ``'layer'``).
            Default: ``'batch'``.
        expose_attention (bool): make timm attention modules compute the
            softmax explicitly (``fused_attn = False``) instead of PyTorch's
            fused kernel, so that forward hooks on
            ``model.blocks.i.attn.attn_drop`` record the ``(N, heads, T, T)``
            attention probabilities (attention distillation and priors).
            Slower and more memory-hungry; same outputs. Default: False.
        data_preprocessor (dict | nn.Module, optional): defaults to
            ``dict(type='ClsDataPreprocessor')``.
        init_cfg (dict, optional): MMEngine initialisation config.
    """

    def __init__(self,
                 model_name: str,
                 model_kwargs: Optional[dict] = None,
                 checkpoint: Optional[str] = None,
                 label_smoothing: float = 0.0,
                 stem: str = 'patch',
                 stem_channels: int = 32,
                 stem_norm: str = 'batch',
                 expose_attention: bool = False,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[Union[dict, torch.nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ClsDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)

        import timm
        model_kwargs = dict(model_kwargs or {})
        for key in ('pretrained', 'pretrained_cfg_overlay', 'checkpoint_path'):
            if key in model_kwargs:
                raise ValueError(f'model_kwargs[{key!r}] is not supported: weights never download; '
                                 'pass a local file as TimmClassifier(checkpoint=...) instead')
        self.model = timm.create_model(model_name, pretrained=False, **model_kwargs)
        self.model_name = model_name
        check_stem(stem)
        if stem == 'conv':
            self._use_conv_stem(stem_channels, stem_norm)
        self.num_classes = self.model.num_classes
        self.label_smoothing = label_smoothing
        self.expose_attention = expose_attention
        if expose_attention:
            for module in self.model.modules():
                if hasattr(module, 'fused_attn'):
                    module.fused_attn = False
        self.checkpoint = checkpoint
        self.pretrained = pretrained
        if checkpoint is not None:
            self.load_timm_checkpoint(checkpoint)

    def _use_conv_stem(self, base_channels: int, norm: str) -> None:
        proj = getattr(getattr(self.model, 'patch_embed', None), 'proj', None)
        if not isinstance(proj, torch.nn.Conv2d) or proj.stride[0] != proj.kernel_size[0]:
            raise ValueError(f"stem='conv' replaces a ViT's patchify convolution (patch_embed.proj); timm model "
                             f"{self.model_name!r} has none. Use stem='patch'.")
        self.model.patch_embed.proj = ConvStem(proj.in_channels, proj.out_channels, proj.stride[0],
                                              base_channels, norm)

    def load_timm_checkpoint(self, filename: str, resize_pos_embed: bool = False) -> None:
        """Load a local checkpoint strictly into ``self.model``.

        Args:
            filename (str): a timm ``state_dict`` file, or a ``tools/train.py``
                checkpoint of a ``TimmClassifier``.
            resize_pos_embed (bool): resample a ``pos_embed`` of another token
                grid to this model's. Default: False.
        """
        ckpt = _load_checkpoint(filename, map_location='cpu')
        state_dict = strip_common_prefix(unwrap_state_dict(ckpt, filename), 'model.')
        own = getattr(self.model, 'pos_embed', None)
        if resize_pos_embed and own is not None and state_dict.get('pos_embed') is not None \
                and state_dict['pos_embed'].shape != own.shape:
            from timm.layers import resample_abs_pos_embed
            prefix = 0 if getattr(self.model, 'no_embed_class', False) else self.model.num_prefix_tokens
            state_dict['pos_embed'] = resample_abs_pos_embed(
                state_dict['pos_embed'], list(self.model.patch_embed.grid_size), num_prefix_tokens=prefix)
        load_state_dict_checked(self.model, state_dict, f'{filename} (timm model {self.model_name!r})',
                                'Use the model_kwargs it was trained with.')

    def init_weights(self) -> None:
        """Initialise weights, unless a checkpoint was loaded at construction.

        timm models initialise themselves when built; MMEngine's
        ``Runner`` then calls this, which would re-initialise a loaded
        checkpoint away.
        """
        if self.checkpoint is None:
            super().init_weights()
            if self.pretrained is not None:
                self.load_timm_checkpoint(self.pretrained, resize_pos_embed=True)

    def forward_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """timm's ``forward_features``: the features before the head.

        Args:
            inputs (Tensor): ``(N, 3, H, W)`` normalised images.

        Returns:
            Tensor: model-specific; ``(N, 1 + L, C)`` tokens for a ViT with a
            class token and ``L`` patches, ``(N, C, h, w)`` for a CNN.
        """
        return self.model.forward_features(inputs)

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[ClsDataSample]] = None,
                mode: str = 'tensor') -> Union[torch.Tensor, Dict[str, torch.Tensor], List[ClsDataSample]]:
        """Run the classifier in one of MMEngine's three modes.

        Args:
            inputs (Tensor): ``(N, 3, H, W)`` normalised images.
            data_samples (list[ClsDataSample], optional): N samples; ``'loss'``
                needs their ``gt_label``.
            mode (str): ``'tensor'``, ``'loss'`` or ``'predict'``.

        Returns:
            - ``'tensor'``: logits, ``(N, num_classes)``.
            - ``'loss'``: ``dict(loss_cls=())`` cross-entropy.
            - ``'predict'``: the N samples (new ones if ``data_samples`` is
              None) with ``pred_score`` ``(num_classes,)`` and ``pred_label``.
        """
        logits = self.model(inputs)
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            labels = stack_gt_labels(data_samples)
            return dict(loss_cls=F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing))
        if mode == 'predict':
            if data_samples is None:
                data_samples = [ClsDataSample() for _ in range(len(logits))]
            scores = logits.softmax(dim=1).detach()
            for sample, score in zip(data_samples, scores):
                sample.set_pred_score(score)
            return data_samples
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")
