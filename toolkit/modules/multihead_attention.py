"""Multi-head scaled dot-product attention (Vaswani et al. 2017) on top of SDPA.

Shapes: B batch, T query length, S key length, D model dim, H heads, Dh = D / H.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _explicit_attention(q, k, v, attn_mask, dropout: float, is_causal: bool) -> torch.Tensor:
    """Attention as two batched matmuls and a softmax.

    Used only for bf16 training on the CPU, where SDPA's fused CPU kernel has a slow bf16
    backward (measured 39 ms against 4.6 ms here for B=280, H=4, T=S=15, Dh=64, forward
    plus backward). For sentence-length sequences the (T, S) scores are tiny anyway.
    """
    scores = torch.matmul(q, k.transpose(-1, -2)) * q.size(-1) ** -0.5
    T, S = scores.shape[-2:]
    if is_causal:
        causal = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T)
        attn_mask = causal if attn_mask is None else attn_mask & causal
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(v.dtype)
    if dropout > 0:
        probs = F.dropout(probs, dropout, training=True)
    return torch.matmul(probs, v)


class MultiheadAttention(nn.Module):
    """Self- or encoder-decoder attention with an incremental key/value cache.

    Self-attention projects q, k, v with one fused matrix; encoder-decoder attention
    projects the encoder output to k, v once per sentence (`project_kv`) and reuses it.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, self_attention: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model dim {dim} is not divisible by {heads} heads")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.dropout = dropout
        self.self_attention = self_attention
        if self_attention:
            self.qkv_proj = nn.Linear(dim, 3 * dim)
        else:
            self.q_proj = nn.Linear(dim, dim)
            self.kv_proj = nn.Linear(dim, 2 * dim)
        self.out_proj = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for proj in (self.qkv_proj,) if self.self_attention else (self.q_proj, self.kv_proj):
            nn.init.xavier_uniform_(proj.weight, gain=2**-0.5)
            nn.init.zeros_(proj.bias)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, H, T, Dh)"""
        B, T, _ = x.shape
        return x.view(B, T, self.heads, self.head_dim).transpose(1, 2)

    def project_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder output (B, S, D) -> keys and values (B, H, S, Dh), computed once per sentence."""
        k, v = self.kv_proj(memory).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def forward(
        self,
        query: torch.Tensor,
        memory_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        cache: dict | None = None,
    ) -> torch.Tensor:
        """query (B, T, D) -> (B, T, D).

        attn_mask: bool, True where attention is allowed, broadcastable to (B, H, T, S).
        cache: for incremental self-attention, a dict holding "k" and "v" (B, H, t, Dh)
        that this call extends in place with the new step's keys and values.
        """
        if self.self_attention:
            q, k, v = (self._split(t) for t in self.qkv_proj(query).chunk(3, dim=-1))
            if cache is not None:
                if "k" in cache:
                    k = torch.cat([cache["k"], k], dim=2)
                    v = torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        else:
            q = self._split(self.q_proj(query))
            k, v = memory_kv
        dropout = self.dropout if self.training else 0.0
        on_cpu = q.device.type == "cpu"
        if on_cpu and q.size(2) == 1 and not torch.is_grad_enabled():
            # One query per sentence (a decoding step): SDPA's CPU flash kernel spends ~0.4 ms a call
            # on its tiling here, ten times the two small matmuls (measured in generate's profile).
            out = _explicit_attention(q, k, v, attn_mask, 0.0, False)
        elif on_cpu and q.dtype == torch.bfloat16 and torch.is_grad_enabled():
            out = _explicit_attention(q, k, v, attn_mask, dropout, is_causal)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout, is_causal=is_causal)
        B, _, T, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(B, T, self.dim))

    def attention_weights(
        self, query: torch.Tensor, memory_kv: tuple[torch.Tensor, torch.Tensor], attn_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Head-averaged attention probabilities (B, T, S), for alignments and plots."""
        q = self._split(self.q_proj(query))
        k, _ = memory_kv
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.head_dim**-0.5
        if attn_mask is not None:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        return scores.float().softmax(dim=-1).mean(dim=1)
