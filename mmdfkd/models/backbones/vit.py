"""ViTDet-style plain Vision Transformer backbone built on timm's SAM ViT.

The transformer itself (patch embedding, windowed and global attention with
decomposed relative positions, MLP blocks) is timm's
:class:`timm.models.vision_transformer_sam.VisionTransformerSAM`; this module
only adopts its stem and blocks, drops its classification neck and head, turns
the last block's tokens into a feature map for MMDetection necks, and loads
local timm / DeiT / MAE checkpoints.
"""
import math
import os.path as osp
import pickle
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmengine.runner import CheckpointLoader
from timm.layers import resample_abs_pos_embed_nhwc
from timm.models.vision_transformer_sam import VisionTransformerSAM

from mmdfkd.engine.checkpoint import UntrustedCheckpointError
from mmdfkd.models.layers import ConvStem, check_stem
from mmdfkd.registry import MODELS
from mmdfkd.utils.state_dict import state_dict_mismatches, unwrap_state_dict

# Checkpoint key prefixes that wrap a backbone's own names (DDP, detectors,
# mmdfkd's TimmClassifier).
_STRIP_PREFIXES = ('module.', 'backbone.', 'model.')


@MODELS.register_module()
class ViT(BaseModule):
    """Plain ViT backbone in the ViTDet style (windowed + global attention).

    The model is timm's ``VisionTransformerSAM`` without its neck and head: the
    module names are timm's, so distillation recorders can tap them with
    forward hooks. With ``B`` images of size ``(H, W)``, patch size ``p``,
    grid ``h = H // p``, ``w = W // p``, embedding ``C``, ``nh`` heads and, in a
    windowed block of window ``ws``, ``nW = ceil(h / ws) * ceil(w / ws)``
    windows per image, the named modules output:

    - ``patch_embed``: ``(B, h, w, C)`` patch tokens, NHWC, before the
      absolute position embedding is added.
    - ``blocks.i``: ``(B, h, w, C)`` tokens after block ``i`` (NHWC).
    - ``blocks.i.attn``: attention output tokens, not attention maps:
      ``(B * nW, ws, ws, C)`` in a windowed block (windows are zero-padded to
      a multiple of ``ws``), ``(B, h, w, C)`` in a global block.
    - ``blocks.i.attn.attn_drop``: the attention probabilities (softmax over
      keys, relative position bias included), ``(B * nW * nh, ws*ws, ws*ws)``
      in a windowed block and ``(B * nh, h*w, h*w)`` in a global block, with
      the batch index major and the head index minor. Only produced when
      attention is computed explicitly (below); the fused kernel never
      materialises the map.
    - ``blocks.i.mlp``: ``(B, h*w, C)`` MLP output before the residual.

    ``attention='auto'`` computes attention explicitly on a CPU and with
    PyTorch's fused ``scaled_dot_product_attention`` elsewhere: with the
    relative-position bias as its mask, that function has no fused CPU kernel
    and falls back to a math path, which was slower than the explicit
    product (README "Where the time goes", ``tools/benchmark_compile.py``).

    Args:
        img_size (int | tuple[int, int]): Image size the absolute position
            embedding and the global blocks' relative positions are built for.
            Other sizes (also non-square) work: both are interpolated on the
            fly. Default: 1024.
        patch_size (int): Patch size ``p``; input height and width must be
            multiples of it. Default: 16.
        in_channels (int): Input channels. Default: 3.
        embed_dim (int): Token width ``C``. Default: 768.
        depth (int): Number of blocks. Default: 12.
        num_heads (int): Attention heads per block. Default: 12.
        mlp_ratio (float): MLP hidden width over ``C``. Default: 4.0.
        qkv_bias (bool): Bias in the qkv projection. Default: True.
        window_size (int): Window side (in tokens) of windowed blocks; 0 makes
            every block global. Default: 14.
        global_attn_indexes (Sequence[int]): Blocks that attend globally.
            Default: (2, 5, 8, 11).
        drop_path_rate (float): Stochastic depth rate (linearly increasing
            over blocks). Default: 0.1.
        use_abs_pos (bool): Learnable absolute position embedding. Default:
            True.
        use_rel_pos (bool): Decomposed relative position bias in attention.
            Default: True.
        attention (str): ``'auto'`` (explicit on a CPU, fused elsewhere),
            ``'explicit'`` or ``'fused'``. Default: ``'auto'``.
        stem (str): ``'patch'`` (ViT's patchify convolution) or ``'conv'``
            (a :class:`~mmdfkd.models.layers.ConvStem` of the same stride: a
            hybrid ViT with the same token grid and blocks; a pretrained
            ``stem='conv'`` classifier's stem loads into it). Default:
            ``'patch'``.
        stem_channels (int): Width of a conv stem's first layer
            (:class:`~mmdfkd.models.layers.ConvStem` ``base_channels``); a
            student-sized stem is narrower. Default: 32.
        stem_norm (str): That stem's norm, ``'batch'`` or ``'layer'``
            (``ConvStem.norm``; a data-free student wants ``'layer'``).
            Default: ``'batch'``.
        expose_attention (bool): Compute attention explicitly on every device
            (``attention='explicit'``), so that hooks on
            ``blocks.i.attn.attn_drop`` see the attention maps. More memory on
            a GPU. Default: False.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)``
            loads a local timm / DeiT / MAE / ViTDet checkpoint (see
            :meth:`init_weights`). Without it the weights are initialised from
            scratch as in ViTDet. Default: None.
    """

    def __init__(self,
                 img_size: Union[int, Tuple[int, int]] = 1024,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 embed_dim: int = 768,
                 depth: int = 12,
                 num_heads: int = 12,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 window_size: int = 14,
                 global_attn_indexes: Sequence[int] = (2, 5, 8, 11),
                 drop_path_rate: float = 0.1,
                 use_abs_pos: bool = True,
                 use_rel_pos: bool = True,
                 attention: str = 'auto',
                 stem: str = 'patch',
                 stem_channels: int = 32,
                 stem_norm: str = 'batch',
                 expose_attention: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if attention not in ('auto', 'explicit', 'fused'):
            raise ValueError(f"attention must be 'auto', 'explicit' or 'fused', got {attention!r}.")
        if expose_attention and attention == 'fused':
            raise ValueError("expose_attention=True needs the attention maps, which attention='fused' never "
                             "computes: use attention='auto' or 'explicit'.")
        check_stem(stem)
        bad = [i for i in global_attn_indexes if not 0 <= i < depth]
        if bad:
            raise ValueError(f'global_attn_indexes {list(global_attn_indexes)} has indexes {bad} outside '
                             f'the {depth} blocks; use indexes in [0, {depth - 1}].')
        vit = VisionTransformerSAM(
            img_size=img_size,
            patch_size=patch_size,
            in_chans=in_channels,
            num_classes=0,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            drop_path_rate=drop_path_rate,
            use_abs_pos=use_abs_pos,
            use_rel_pos=use_rel_pos,
            window_size=window_size,
            global_attn_indexes=tuple(global_attn_indexes),
            neck_chans=0,
        )
        # Adopt timm's stem and blocks under timm's names; its neck and head
        # are classification parts that a detector does not use.
        self.patch_embed = vit.patch_embed
        if stem == 'conv':
            self.patch_embed.proj = ConvStem(in_channels, embed_dim, patch_size, base_channels=stem_channels,
                                             norm=stem_norm)
        self.pos_embed = vit.pos_embed
        self.pos_drop = vit.pos_drop
        self.blocks = vit.blocks
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.expose_attention = expose_attention
        self.attention = 'explicit' if expose_attention else attention
        for blk in self.blocks:
            blk.attn.fused_attn = self.attention == 'fused'  # 'auto' is decided per input device

    def init_weights(self) -> None:
        """Initialise from scratch or from a local pretrained checkpoint.

        From scratch (no ``init_cfg``) follows ViTDet: truncated normal
        (std 0.02) for the position embedding and linear weights, zero
        biases, unit LayerNorm; relative position tables stay zero.

        With ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` the
        from-scratch values are then overwritten from the checkpoint: its
        ``'state_dict'`` or ``'model'`` entry (or the dict itself) is used;
        ``module.``, ``backbone.`` and ``model.`` prefixes are stripped (DDP,
        detector and :class:`TimmClassifier` checkpoints);
        an absolute position embedding of another grid is interpolated
        (bicubic), a class-token position is dropped; relative position tables
        of another length are interpolated (linear). Keys that do not fit
        (classifier heads, ``cls_token``, ``norm``, shape mismatches) are
        skipped and logged.
        """
        if self.pos_embed is not None:
            trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.init_cfg is not None and self.init_cfg.get('type') == 'Pretrained':
            if 'checkpoint' not in self.init_cfg:
                raise KeyError("init_cfg of type 'Pretrained' needs a 'checkpoint' path, "
                               "e.g. init_cfg=dict(type='Pretrained', checkpoint='mae_pretrain_vit_base.pth').")
            self._load_pretrained(self.init_cfg['checkpoint'])
            self._is_init = True
        else:
            super().init_weights()

    def _load_pretrained(self, path: str) -> None:
        if '://' not in path and not osp.isfile(path):
            raise FileNotFoundError(
                f'ViT pretrained checkpoint {path!r} does not exist. Train or download it first (the '
                f"Digits-Det teacher starts from the Digits-Cls teacher: python tools/train.py "
                f"configs/teachers/deit_digits-cls.py), or set model.backbone.init_cfg.checkpoint=PATH "
                f'(model.backbone.init_cfg=None trains from scratch).')
        try:
            state = CheckpointLoader.load_checkpoint(path, map_location='cpu')
        except UntrustedCheckpointError:
            raise  # names the refused type and how to allow a trusted file; no weights_only=False advice
        except pickle.UnpicklingError as e:
            raise RuntimeError(
                f'torch.load refused {path} under weights_only=True: it stores Python objects besides the '
                f'weights (e.g. training args). If you trust the file, save only its weights once, e.g. '
                f"torch.save(torch.load(path, weights_only=False)['model'], 'weights.pth'), and point "
                f'init_cfg.checkpoint at the new file.') from e
        state = unwrap_state_dict(state, path)
        state = {_strip_prefixes(k): v for k, v in state.items()}
        state = self._adapt_state(state)

        _, _, mismatched = state_dict_mismatches(self.state_dict(), state)
        wrong_shape = {m.split(' ', 1)[0] for m in mismatched}
        loadable = {k: v for k, v in state.items() if k not in wrong_shape}
        result = self.load_state_dict(loadable, strict=False)
        print_log(f'ViT: loaded {len(loadable) - len(result.unexpected_keys)} tensors from {path}', logger='current')
        for label, keys in (('missing keys (kept as initialised)', result.missing_keys),
                            ('unexpected keys (ignored)', result.unexpected_keys),
                            ('shape mismatches (ignored)', mismatched)):
            if keys:
                print_log(f'ViT: {label}: {", ".join(keys)}', logger='current')

    def _adapt_state(self, state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Resize position tables of a checkpoint to this model's sizes."""
        own = self.state_dict()
        if 'pos_embed' in state and self.pos_embed is not None:
            state['pos_embed'] = _resize_abs_pos_embed(state['pos_embed'], self.pos_embed.shape[1:3])
        for k, v in state.items():
            if k.endswith(('rel_pos_h', 'rel_pos_w')) and k in own and own[k].shape != v.shape \
                    and v.dim() == 2 and v.shape[1] == own[k].shape[1]:
                state[k] = F.interpolate(v.t()[None].float(), size=own[k].shape[0],
                                         mode='linear')[0].t().to(v.dtype)
        return state

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        """Encode images into the last block's token map.

        Args:
            x (Tensor): Images, (N, C_in, H, W), H and W multiples of
                ``patch_size``.

        Returns:
            tuple[Tensor]: One map (N, C, H / p, W / p).
        """
        height, width = x.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f'ViT input size {height}x{width} is not a multiple of patch_size={self.patch_size}; use a '
                f'height of {_near_multiples(height, self.patch_size)} and a width of '
                f'{_near_multiples(width, self.patch_size)}: for real images pad with '
                f'pad_size_divisor={self.patch_size} in the data preprocessor; for synthetic images set the '
                f'generator\'s img_size (and the layout sizes) to such a size.')
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + resample_abs_pos_embed_nhwc(self.pos_embed, x.shape[1:3])
        x = self.pos_drop(x)
        if self.attention == 'auto':
            for blk in self.blocks:
                blk.attn.fused_attn = x.device.type != 'cpu'
        x = self.blocks(x)
        return (x.permute(0, 3, 1, 2).contiguous(), )


def _strip_prefixes(key: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in _STRIP_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                stripped = True
    return key


def _near_multiples(size: int, multiple: int) -> str:
    """``size`` if it is a multiple of ``multiple``, else the nearest ones."""
    lower = size // multiple * multiple
    if lower == size:
        return str(size)
    return ' or '.join(str(s) for s in (lower, lower + multiple) if s > 0)


def _resize_abs_pos_embed(pos_embed: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
    """Bring a checkpoint's absolute position embedding to ``(1, h, w, C)``.

    Args:
        pos_embed (Tensor): (1, T, C) token layout, optionally with one leading
            class-token position, or (1, h0, w0, C) NHWC layout.
        grid (Sequence[int]): Target grid ``(h, w)``.

    Returns:
        Tensor: (1, h, w, C).
    """
    if pos_embed.dim() == 3:
        num_tokens = pos_embed.shape[1]
        side = math.isqrt(num_tokens)
        if side * side != num_tokens:
            side = math.isqrt(num_tokens - 1)
            if side * side != num_tokens - 1:
                raise ValueError(f'Cannot read a square grid from a pos_embed of {num_tokens} tokens; '
                                 f'expected n*n or 1 + n*n (with a class token).')
            pos_embed = pos_embed[:, 1:]
        pos_embed = pos_embed.reshape(1, side, side, -1)
    return resample_abs_pos_embed_nhwc(pos_embed, list(grid))

