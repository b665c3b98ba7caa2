"""A small re-statement of the authors' released selection procedure, for one crop (torch).

This is the baseline of ADAFV-R17 and of the benchmarks: float32 softmax scores ranked by
``topk``, the guarantee ``m = int(K * 0.25)``, the split maximising the product of float32
prefix sums, and the sorted concatenation of both index lists, duplicates included. It
reproduces the authors' procedure, including what v1 deliberately changes (see the spec's
Deviations), so it is only expected to agree with v1 under the conditions of ADAFV-R17.

torch is imported here only; the rest of the suite does not need it.
"""

from __future__ import annotations

import torch


def authors_t2i_scores(visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """``t = max_j softmax_i(100 * cos(T_j, V_i))`` in float32 (length N)."""
    v = visual.float()
    t = text.float()
    v = v / v.norm(dim=-1, keepdim=True)
    t = t / t.norm(dim=-1, keepdim=True)
    sim = 100.0 * (t @ v.T)  # M x N
    return sim.softmax(dim=-1).max(dim=0).values


def authors_select(
    visual: torch.Tensor, text: torch.Tensor, saliency: torch.Tensor, budget: int
) -> torch.Tensor:
    """Indices the authors' procedure keeps for one crop: sorted, duplicates included.

    ``visual`` is ``N x d``, ``text`` is ``M x d`` (``M >= 1``), ``saliency`` is ``N``; any
    float dtype, any device (the result is on that device, int64). ``budget`` is K, at most N.
    """
    k = int(budget)
    t = authors_t2i_scores(visual, text)
    s = saliency.float()
    value, idx = torch.topk(t, k)
    value_s, idx_s = torch.topk(s, k)
    m = int(k * 0.25)
    r = k - 2 * m
    zero = torch.zeros(1, dtype=torch.float32, device=t.device)
    prefix_t = torch.cat([zero, torch.cumsum(value[m:], dim=0)])
    prefix_s = torch.cat([zero, torch.cumsum(value_s[m:], dim=0)])
    k1 = torch.arange(r + 1, device=t.device)
    k2 = r - k1
    products = prefix_t[k1] * prefix_s[k2]
    best = int(torch.argmax(products).item())
    selected = torch.cat([idx[: m + best], idx_s[: m + (r - best)]])
    return torch.sort(selected).values
