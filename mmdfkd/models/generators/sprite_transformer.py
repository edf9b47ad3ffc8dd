"""Object mattes drawn by a class-conditional transformer from noise, composited like the sprite bank."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmdfkd.registry import MODELS

from .sprite_bank import SpriteBankGenerator


@MODELS.register_module()
class SpriteTransformerGenerator(SpriteBankGenerator):
    """The seed paper's transformer generator at the level of objects.

    :class:`SpriteBankGenerator` stores ``sprites_per_class`` mattes per
    class and optimises them directly. Here a network draws every object's
    matte anew from noise: an amortised generator (arXiv 2408.05952's
    transformer-augmented generator), so the student sees a new shape for
    every object instead of one of a fixed bank, and the generator can be
    asked for as many as wanted.

    For an object of class ``c`` with latent ``z ~ N(0, I)`` (``latent_dim``),
    ``(s / p)^2`` tokens of width ``embed_dim`` are formed as
    ``pos_embed + class_embed[c] + W z``; ``depth`` timm ViT blocks mix them
    (attention between the parts of the object); a LayerNorm and a linear
    layer turn each token into a ``p x p`` patch of alpha logits, folded into
    the (1, s, s) matte. The last layer starts with bias ``init_mean`` and
    weights of std ``embed_dim ** -0.5``, so a new matte's logits are about
    ``init_mean`` +- 1, as the bank's start: mostly transparent, with a
    random shape.

    With ``prototypes=True`` a learned logit matte per class (K, 1, s, s) is
    added to the network's output: the class's shape, optimised directly,
    which the transformer varies per object from its latent. Directly
    optimised logits learn much faster than a network that draws them: in a
    60-step probe on the Digits-Det teacher, the teacher re-detected 0.78 of
    the objects of one stored sprite per class, and 0.15-0.21 of the
    network's alone at lrs 1e-3 to 1e-2, with or without blocks
    (docs/results_vit_generator.md). Give the prototypes the bank's lr
    (``paramwise_cfg=dict(custom_keys={'prototypes': dict(lr_mult=...)})``);
    they start at zero.

    Everything else (layouts, backgrounds, inks, opacity, the
    composition into boxes) is the sprite bank's; so is the training signal,
    the teacher's detection loss against the layout, to which the
    attention-consistency prior of the seed paper can be added in the
    config.

    Args:
        img_size (int | Sequence[int]): ``S`` or ``(H, W)``.
        num_classes (int): Object classes ``K``.
        sprite_size (int): Matte side ``s``, a multiple of ``patch_size``.
            Default: 16.
        patch_size (int): Side ``p`` of the matte patch each token draws.
            Default: 4.
        latent_dim (int): Size of each object's ``z``. Default: 32.
        embed_dim (int): Token width. Default: 64.
        depth (int): Transformer blocks. Default: 2.
        num_heads (int): Attention heads. Default: 4.
        init_mean (float): Initial alpha logit (the output bias). Default: -2.0.
        prototypes (bool): Add a learned (1, s, s) logit matte per class to
            the network's output (see above). Default: False.
        **kwargs: Appearance options of :class:`SpriteBankGenerator`
            (``background``, ``ink``, ``opaque``, ``max_rotation``, ...);
            ``ink='learned'`` and ``mix`` are the bank's and not accepted.
    """

    def __init__(self,
                 img_size: Union[int, Sequence[int]],
                 num_classes: int,
                 sprite_size: int = 16,
                 patch_size: int = 4,
                 latent_dim: int = 32,
                 embed_dim: int = 64,
                 depth: int = 2,
                 num_heads: int = 4,
                 init_mean: float = -2.0,
                 prototypes: bool = False,
                 **kwargs) -> None:
        if kwargs.get('ink') == 'learned' or kwargs.get('mix'):
            raise ValueError("SpriteTransformerGenerator draws mattes from noise: ink='learned' and mix=True "
                             'belong to SpriteBankGenerator, which stores its sprites.')
        if sprite_size % patch_size:
            raise ValueError(f'sprite_size={sprite_size} must be a multiple of patch_size={patch_size}.')
        super().__init__(img_size, num_classes, sprites_per_class=1, sprite_size=sprite_size, **kwargs)
        from timm.models.vision_transformer import Block
        del self.alpha_logits  # the bank's stored mattes: drawn by the network instead
        self.latent_dim = latent_dim
        self.patch_size = patch_size
        self.sprite_grid = sprite_size // patch_size
        num_tokens = self.sprite_grid**2
        self.to_tokens = nn.Linear(latent_dim, embed_dim)
        self.class_embed = nn.Embedding(num_classes, embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.class_embed.weight, std=1.0)
        self.prototypes = (nn.Parameter(torch.zeros(num_classes, 1, sprite_size, sprite_size))
                           if prototypes else None)
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, qkv_bias=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim)
        self.to_patches = nn.Linear(embed_dim, patch_size * patch_size)
        nn.init.normal_(self.to_patches.weight, std=embed_dim**-0.5)
        nn.init.constant_(self.to_patches.bias, init_mean)

    def object_logits(self, labels: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Draw one matte per object from its class and a new latent.

        Args:
            labels (Tensor): (k,) classes of one image's objects.

        Returns:
            tuple[Tensor, None]: (k, 1, s, s) alpha logits, and no colour logits.
        """
        device = self.pos_embed.device
        labels = labels.to(device)
        z = torch.randn(len(labels), self.latent_dim, device=device)
        tokens = (self.to_tokens(z) + self.class_embed(labels))[:, None] + self.pos_embed  # (k, T, D)
        patches = self.to_patches(self.norm(self.blocks(tokens)))  # (k, T, p*p)
        g, p = self.sprite_grid, self.patch_size
        mattes = patches.view(-1, g, g, p, p).permute(0, 1, 3, 2, 4).reshape(-1, 1, g * p, g * p)
        if self.prototypes is not None:
            mattes = mattes + self.prototypes[labels]
        return mattes, None
