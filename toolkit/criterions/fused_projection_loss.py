"""Vocabulary projection fused with (label-smoothed) cross-entropy, in row chunks.

The plain way materialises (N, V) logits, then an fp32 log-softmax, then their
gradients: on a 2-core CPU that costs more than all the Transformer's layers. Here the
logits of one chunk of rows live only while that chunk's loss and gradients are
computed, and the gradients with respect to the features and the projection weight are
produced in the forward pass, so backward is a scaling. Padded rows never get here:
the criterion selects the non-pad target positions first.

Label smoothing follows fairseq: with eps_i = eps / (V - 1),
loss = (1 - eps - eps_i) * nll + eps_i * sum_v(-log p_v), computed in O(N), no V-sized target.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

CHUNK_ROWS = 1024


def _chunk_terms(logits: torch.Tensor, target: torch.Tensor):
    """From (n, V) fp32 logits: log-sum-exp (n,), target logit (n,), sum of logits (n,)."""
    lse = torch.logsumexp(logits, dim=-1)
    target_logit = logits.gather(1, target[:, None]).squeeze(1)
    return lse, target_logit, logits.sum(dim=-1)


class _FusedProjectionLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, weight, bias, target, epsilon):
        V = weight.size(0)
        eps_i = epsilon / (V - 1) if V > 1 else 0.0
        onehot_weight = 1.0 - epsilon - eps_i
        compute_dtype = features.dtype
        w = weight.to(compute_dtype)
        b = None if bias is None else bias.to(compute_dtype)
        grad_features = torch.empty_like(features)
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        grad_bias = None if bias is None else torch.zeros(V, dtype=torch.float32, device=weight.device)
        loss = features.new_zeros((), dtype=torch.float32)
        nll = features.new_zeros((), dtype=torch.float32)
        for start in range(0, features.size(0), CHUNK_ROWS):
            h = features[start : start + CHUNK_ROWS]
            t = target[start : start + CHUNK_ROWS]
            logits = F.linear(h, w, b).float()
            target_logit = logits.gather(1, t[:, None]).squeeze(1)
            logit_sum = logits.sum(dim=-1)
            # One pass of exp serves both the log-sum-exp and the softmax of the gradient.
            row_max = logits.amax(dim=-1, keepdim=True)
            probs = logits.sub_(row_max).exp_()
            total = probs.sum(dim=-1, keepdim=True)
            lse = (row_max + total.log()).squeeze(1)
            chunk_nll = lse - target_logit
            nll += chunk_nll.sum()
            loss += onehot_weight * chunk_nll.sum() + eps_i * (V * lse - logit_sum).sum()
            # d loss / d logits = softmax - (onehot_weight * onehot + eps_i), in the logits buffer.
            grad = probs.div_(total)
            if eps_i:
                grad.sub_(eps_i)
            grad[torch.arange(len(t), device=t.device), t] -= onehot_weight
            grad = grad.to(compute_dtype)
            grad_features[start : start + CHUNK_ROWS] = grad @ w
            grad_weight += (grad.t() @ h).float()
            if grad_bias is not None:
                grad_bias += grad.float().sum(0)
        ctx.save_for_backward(grad_features, grad_weight, grad_bias if grad_bias is not None else torch.empty(0))
        ctx.has_bias = bias is not None
        ctx.weight_dtype = weight.dtype
        ctx.mark_non_differentiable(nll)
        return loss, nll

    @staticmethod
    def backward(ctx, grad_loss, _grad_nll):
        grad_features, grad_weight, grad_bias = ctx.saved_tensors
        scale = grad_loss
        gf = grad_features * scale.to(grad_features.dtype)
        gw = (grad_weight * scale).to(ctx.weight_dtype)
        gb = (grad_bias * scale).to(ctx.weight_dtype) if ctx.has_bias else None
        return gf, gw, gb, None, None


def projection_loss(
    features: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    target: torch.Tensor,
    epsilon: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum-reduced (label-smoothed loss, nll) of projecting features (N, D) onto weight (V, D).

    Under autocast the projection runs in the autocast dtype (bf16 on AMX), whatever
    dtype the last layer norm left the features in; the softmax is always fp32.
    """
    device_type = features.device.type
    if torch.is_autocast_enabled(device_type):
        features = features.to(torch.get_autocast_dtype(device_type))
    with torch.autocast(device_type, enabled=False):
        if features.requires_grad or weight.requires_grad:
            return _FusedProjectionLoss.apply(features, weight, bias, target, epsilon)
        return _projection_loss_no_grad(features, weight, bias, target, epsilon)


@torch.no_grad()
def _projection_loss_no_grad(features, weight, bias, target, epsilon):
    V = weight.size(0)
    eps_i = epsilon / (V - 1) if V > 1 else 0.0
    w = weight.to(features.dtype)
    b = None if bias is None else bias.to(features.dtype)
    loss = features.new_zeros((), dtype=torch.float32)
    nll = features.new_zeros((), dtype=torch.float32)
    for start in range(0, features.size(0), CHUNK_ROWS):
        logits = F.linear(features[start : start + CHUNK_ROWS], w, b).float()
        lse, target_logit, logit_sum = _chunk_terms(logits, target[start : start + CHUNK_ROWS])
        chunk_nll = (lse - target_logit).sum()
        nll += chunk_nll
        loss += (1.0 - epsilon - eps_i) * chunk_nll + eps_i * (V * lse - logit_sum).sum()
    return loss, nll
