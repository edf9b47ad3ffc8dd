"""Patch-similarity entropy prior of PSAQ-ViT (Li et al., ECCV 2022)."""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdfkd.registry import MODELS

from .base import BasePrior, SynthesisContext, as_tensor_list, get_tap


def similarity_entropy(tokens: Tensor, grid: Tensor, bandwidth: float) -> Tensor:
    """Differential entropy of the patch cosine similarities of each image.

    Args:
        tokens (Tensor): (N, T, C) patch tokens.
        grid (Tensor): (B,) evaluation points of the density, increasing.
        bandwidth (float): Standard deviation of the Gaussian kernel.

    Returns:
        Tensor: (N,) entropy estimates.
    """
    num_tokens = tokens.shape[1]
    unit = F.normalize(tokens.float(), dim=-1)
    sims = unit @ unit.transpose(1, 2)  # (N, T, T)
    rows, cols = torch.triu_indices(num_tokens, num_tokens, offset=1, device=tokens.device)
    sims = sims[:, rows, cols]  # (N, T(T-1)/2): each unordered pair once, no self-similarity
    # Gaussian KDE evaluated on the grid: p(g) = mean_i N(g; s_i, bandwidth^2).
    z = (grid[None, :, None] - sims[:, None, :]) / bandwidth  # (N, B, P)
    pdf = torch.exp(-0.5 * z.pow(2)).mean(dim=-1) / (bandwidth * math.sqrt(2 * math.pi))  # (N, B)
    pdf = pdf + 1e-4
    return torch.trapezoid(-pdf * torch.log(pdf), grid, dim=-1)


@MODELS.register_module()
class PatchSimilarityEntropyPrior(BasePrior):
    """Maximise the entropy of patch-to-patch similarities (PSAQ-ViT).

    PSAQ-ViT observes that a ViT responds to real images with diverse
    patch similarities and to noise with uniform ones. For every tapped token
    map and every image, the cosine similarity of each pair of patch tokens
    is computed, its density is estimated with a Gaussian kernel density
    estimate on ``num_bins`` points evenly spaced in [-1, 1], and the
    differential entropy ``h = -∫ p log p`` is integrated with the
    trapezoidal rule. The loss is
    ``-loss_weight * Σ_layers mean_images h``: minimising it maximises
    diversity.

    Differences from the PSAQ-ViT code, on purpose: the density grid is the
    fixed range of a cosine similarity rather than the batch's detached
    min..max (same result for any batch, no host sync); each unordered pair
    is counted once and self-similarities (always 1) are left out; tokens
    come from the recorded block outputs (PSAQ-ViT hooks the head-averaged
    attention output ``attn @ v``) — tap whichever module you prefer.

    Memory grows as ``N * T**2 / 2 * num_bins`` per tapped layer (kept for
    the backward pass): about 40 MB for 64 images of 64 tokens and 81 bins,
    but gigabytes for 196-token ImageNet ViTs — tap fewer layers or lower
    ``num_bins`` there.

    Args:
        tap (str): Name in ``ctx.taps_T`` of a token map or list of them,
            each (N, T, C) or (N, h, w, C) (flattened to tokens).
            Default: ``'blocks'``.
        num_prefix_tokens (int): Leading non-patch tokens to drop from
            (N, T, C) maps, e.g. 1 for a class token. Default: 0.
        num_bins (int): Points of the density grid in [-1, 1]. Default: 81.
        bandwidth (float): Kernel standard deviation. Default: 0.05.
        loss_weight (float): Weight of the loss. Default: 1.0.
    """

    def __init__(self,
                 tap: str = 'blocks',
                 num_prefix_tokens: int = 0,
                 num_bins: int = 81,
                 bandwidth: float = 0.05,
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        if num_bins < 2 or bandwidth <= 0:
            raise ValueError(f'need num_bins >= 2 and bandwidth > 0, got {num_bins} and {bandwidth}')
        self.tap = tap
        self.num_prefix_tokens = num_prefix_tokens
        self.num_bins = num_bins
        self.bandwidth = bandwidth

    def forward(self, ctx: SynthesisContext) -> Tensor:
        """Compute the weighted negative entropy.

        Args:
            ctx (SynthesisContext): Reads ``taps_T[tap]``.

        Returns:
            Tensor: () weighted loss (negative).
        """
        maps = as_tensor_list(get_tap(ctx.taps_T, self.tap, type(self).__name__))
        loss: Optional[Tensor] = None
        for feats in maps:
            tokens = self._tokens(feats)
            grid = torch.linspace(-1, 1, self.num_bins, device=tokens.device)
            entropy = similarity_entropy(tokens, grid, self.bandwidth).mean()
            loss = -entropy if loss is None else loss - entropy
        if loss is None:
            raise ValueError(f'taps_T[{self.tap!r}] is empty; record at least one token map')
        return self.loss_weight * loss

    def _tokens(self, feats: Tensor) -> Tensor:
        """(N, T, C) or (N, h, w, C) -> (N, T', C) patch tokens."""
        if feats.dim() == 4:
            return feats.flatten(1, 2)
        if feats.dim() == 3:
            return feats[:, self.num_prefix_tokens:]
        raise ValueError(f'{type(self).__name__} expects token maps (N, T, C) or (N, h, w, C), '
                         f'got shape {tuple(feats.shape)}')
