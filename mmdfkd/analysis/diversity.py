"""How varied a synthetic batch is, and which loss term drives the generator.

A generator that collapses draws nearly the same image for every latent: the
batch's pairwise distances shrink and the teacher sees one or two classes.
:func:`batch_diversity` measures both; :func:`prior_grad_norms` says how hard
each prior pulls on the images, so a term that dominates the others shows.
``DiversityHook`` (:mod:`mmdfkd.engine.hooks`) logs both during training.
"""
from typing import Dict, Optional

import torch
from torch import Tensor, nn


@torch.no_grad()
def batch_diversity(pixels: Tensor, logits: Optional[Tensor] = None) -> Dict[str, float]:
    """Diversity of one batch of synthetic images.

    Args:
        pixels (Tensor): (N, 3, H, W) in [0, 255], N >= 2.
        logits (Tensor, optional): (N, K) teacher logits of the batch.

    Returns:
        dict: ``pairwise_dist``: mean L2 distance between two different
        images, per pixel and channel, in [0, 1] units (0: all images equal);
        with ``logits`` also ``classes`` (distinct teacher argmax classes in
        the batch), ``top_class_share`` (share of the batch in the most
        frequent class) and ``confidence`` (mean max softmax probability).
    """
    if pixels.shape[0] < 2:
        raise ValueError(f'batch_diversity needs at least 2 images, got {pixels.shape[0]}.')
    flat = pixels.detach().float().flatten(1) / 255
    n, dims = flat.shape
    dist = torch.cdist(flat, flat)  # (N, N)
    out = dict(pairwise_dist=float(dist.sum() / (n * (n - 1)) / dims ** 0.5))
    if logits is not None:
        probs = logits.detach().float().softmax(-1)
        labels = probs.argmax(-1)
        counts = torch.bincount(labels, minlength=probs.shape[-1])
        out.update(classes=int((counts > 0).sum()), top_class_share=float(counts.max() / n),
                   confidence=float(probs.max(-1).values.mean()))
    return out


def prior_grad_norms(distiller: nn.Module, batch_size: int) -> Dict[str, float]:
    """The gradient norm of each active prior with respect to a fresh batch's pixels.

    Draws one batch with gradients (a new layout), runs the teacher (and the
    student where a prior needs it) through the generator step's own
    :meth:`~mmdfkd.models.DataFreeDistiller.prior_context`, and
    back-propagates each prior alone to the pixels: ``||d prior / d pixels||``
    per image, averaged over the batch. Nothing changes: no parameter, no
    buffer (a generator's BatchNorm statistics are put back) and not the
    global RNG stream, so a run measured every N iterations trains as one
    that is not.

    Args:
        distiller (DataFreeDistiller): the model being trained.
        batch_size (int): images to draw.

    Returns:
        dict: prior name -> mean per-image gradient norm.
    """
    buffers = {k: v.clone() for k, v in distiller.named_buffers()}
    with torch.random.fork_rng(devices=[]):
        norms = _prior_grad_norms(distiller, batch_size)
    own = dict(distiller.named_buffers())
    with torch.no_grad():
        for key, value in buffers.items():
            own[key].copy_(value)
    return norms


def _prior_grad_norms(distiller: nn.Module, batch_size: int) -> Dict[str, float]:
    priors = distiller.active_priors()
    layout = distiller.sample_layout(batch_size, next(distiller.generator.parameters()).device)
    pixels = distiller.generator(batch_size, layout)
    ctx = distiller.prior_context(pixels, layout, any(p.needs_student for p in priors.values()))
    norms = {}
    for name, prior in priors.items():
        grad, = torch.autograd.grad(prior(ctx), pixels, retain_graph=True, allow_unused=True)
        norms[name] = 0.0 if grad is None else float(grad.flatten(1).norm(dim=1).mean())
    distiller.zero_grad(set_to_none=True)
    return norms
