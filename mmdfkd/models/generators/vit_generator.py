"""Transformer generator of the transformer-augmented GAN (arXiv 2408.05952)."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn

from mmdfkd.registry import MODELS

from .base import BaseGenerator
from .conv_generator import UpBlock


@MODELS.register_module()
class TransformerGenerator(BaseGenerator):
    """ViT generator: latent -> tokens -> transformer blocks -> patches -> image.

    ``z`` (``latent_dim``) is linearly projected to ``T = (H/p) * (W/p)``
    tokens of width ``embed_dim``, a learned position embedding is added, and
    ``depth`` timm ViT blocks (:class:`timm.models.vision_transformer.Block`)
    mix them. A LayerNorm and a linear "un-embedding" turn every token into a
    ``p x p x 3`` patch; the patches are folded into a (N, 3, H, W) logit
    image. With ``refine=True`` a light residual conv stack (3 -> 32 -> 3,
    3x3) smooths the seams between patches. The output is
    ``255 * sigmoid(logits)``.

    With ``decoder='conv'`` the tokens are not un-embedded into patches:
    after the blocks they form a (N, D, H/p, W/p) feature map that
    ``log2(p)`` conv stages (upsample x2, 3x3 conv, BatchNorm, LeakyReLU;
    halving the width down to 32) bring to full resolution, and a 3x3 conv
    gives the logits: attention mixes the image at the token grid, the conv
    stages draw it smoothly (the transformer-augmented generator of the seed
    paper, against the patch seams and stripes of the linear decoder).

    With ``token_norm='batch'`` the projected tokens pass a BatchNorm over
    the batch (and the tokens) per channel, as DAFL's conv generator
    normalises its first feature map: every channel keeps unit variance across
    the batch, which works against drawing one image for every latent.

    With ``num_classes=K`` the layout is rendered into ``K + 1`` maps (see
    :func:`render_layout`), cut into the same ``p x p`` patches and linearly
    embedded (a stride-``p`` conv), and the embedding is added to the tokens
    before the blocks.

    Args:
        img_size (int | Sequence[int]): ``S`` or ``(H, W)``; both multiples of
            the patch size.
        latent_dim (int): Size of ``z``. Default: 256.
        patch_size (int, optional): Patch side ``p``. Default: None, the
            smallest of 4, 8, 16, ... that gives at most 256 tokens.
        embed_dim (int): Token width. Default: 128.
        depth (int): Number of transformer blocks. Default: 4.
        num_heads (int): Attention heads. Default: 4.
        mlp_ratio (float): MLP hidden width over ``embed_dim``. Default: 4.0.
        refine (bool): Add the residual conv refinement (linear decoder
            only). Default: True.
        decoder (str): ``'linear'`` (one linear patch per token) or
            ``'conv'`` (upsampling conv stages, see above; ``patch_size`` a
            power of 2). Default: ``'linear'``.
        token_norm (str, optional): ``'batch'`` normalises the projected
            tokens over the batch (see above); ``None`` does not.
            Default: None.
        num_classes (int, optional): Classes for layout conditioning.
            Default: None (unconditional).
    """

    def __init__(self,
                 img_size: Union[int, Sequence[int]],
                 latent_dim: int = 256,
                 patch_size: Optional[int] = None,
                 embed_dim: int = 128,
                 depth: int = 4,
                 num_heads: int = 4,
                 mlp_ratio: float = 4.0,
                 refine: bool = True,
                 decoder: str = 'linear',
                 token_norm: Optional[str] = None,
                 num_classes: Optional[int] = None) -> None:
        super().__init__(img_size, num_classes=num_classes)
        from timm.models.vision_transformer import Block

        height, width = self.img_size
        if patch_size is None:
            patch_size = 4
            while (height // patch_size) * (width // patch_size) > 256:
                patch_size *= 2
        if height % patch_size or width % patch_size:
            raise ValueError(f'img_size {self.img_size} must be a multiple of patch_size={patch_size}; '
                             'pass a patch_size that divides both sides')
        self.latent_dim = latent_dim
        self.patch_size = patch_size
        self.grid = (height // patch_size, width // patch_size)
        num_tokens = self.grid[0] * self.grid[1]
        self.embed_dim = embed_dim

        self.to_tokens = nn.Linear(latent_dim, num_tokens * embed_dim)
        if token_norm not in (None, 'batch'):
            raise ValueError(f"token_norm must be None or 'batch', got {token_norm!r}")
        self.token_norm = nn.BatchNorm1d(embed_dim) if token_norm == 'batch' else None
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.num_classes is not None:
            self.layout_embed = nn.Conv2d(self.cond_channels, embed_dim, patch_size, stride=patch_size)
        self.blocks = nn.Sequential(*[
            Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True) for _ in range(depth)
        ])
        self.norm = nn.LayerNorm(embed_dim)
        if decoder not in ('linear', 'conv'):
            raise ValueError(f"decoder must be 'linear' or 'conv', got {decoder!r}")
        self.decoder = decoder
        if decoder == 'conv':
            stages = patch_size.bit_length() - 1
            if 2**stages != patch_size:
                raise ValueError(f"decoder='conv' upsamples by 2 per stage: patch_size must be a power of 2, "
                                 f'got {patch_size}')
            widths = [embed_dim] + [max(32, embed_dim // 2**(i + 1)) for i in range(stages)]
            self.up = nn.Sequential(*[UpBlock(c_in, c_out) for c_in, c_out in zip(widths[:-1], widths[1:])])
            self.to_rgb = nn.Conv2d(widths[-1], 3, 3, padding=1)
        else:
            self.to_patches = nn.Linear(embed_dim, patch_size * patch_size * 3)
        self.refine = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(32, 3, 3, padding=1)) if refine and decoder == 'linear' else None

    def forward(self, batch_size: int, layout: Optional[List[dict]] = None) -> torch.Tensor:
        """Sample ``z`` and synthesise.

        Args:
            batch_size (int): ``N``.
            layout (list[dict], optional): ``N`` layout dicts; used only when
                the generator is conditional.

        Returns:
            Tensor: (N, 3, H, W) float in [0, 255].
        """
        z = self.sample_latent(batch_size)
        tokens = self.to_tokens(z).view(batch_size, -1, self.embed_dim)  # (N, T, D)
        if self.token_norm is not None:
            tokens = self.token_norm(tokens.transpose(1, 2)).transpose(1, 2)
        tokens = tokens + self.pos_embed
        if self.num_classes is not None:
            cond = self.render_condition(layout, batch_size, self.img_size, z.device)
            tokens = tokens + self.layout_embed(cond).flatten(2).transpose(1, 2)
        tokens = self.norm(self.blocks(tokens))
        if self.decoder == 'conv':
            grid = tokens.transpose(1, 2).reshape(batch_size, self.embed_dim, *self.grid)  # (N, D, H/p, W/p)
            logits = self.to_rgb(self.up(grid))
        else:
            logits = self._fold(self.to_patches(tokens))  # (N, T, p*p*3) patches -> (N, 3, H, W)
        if self.refine is not None:
            logits = logits + self.refine(logits)
        return 255 * torch.sigmoid(logits)

    def _fold(self, patches: torch.Tensor) -> torch.Tensor:
        """(N, h*w, p*p*3) patches, row-major -> (N, 3, h*p, w*p) image."""
        p, (h, w) = self.patch_size, self.grid
        x = patches.view(-1, h, w, p, p, 3)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(-1, 3, h * p, w * p)
