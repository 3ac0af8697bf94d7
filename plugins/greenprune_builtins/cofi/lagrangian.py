"""The Lagrangian sparsity controller of CoFi (Xia et al., ACL 2022, §3.2; after Wang et al., 2020).

The loss gets ``lambda_1 * (s_hat - t) + lambda_2 * (s_hat - t) ** 2`` where ``s_hat`` is the
expected sparsity of the gates and ``t`` the target. The gate parameters minimise it while the
multipliers *maximise* it (gradient ascent), so any gap between ``s_hat`` and ``t`` makes the
multipliers grow until the gates close or open to meet the target. The target itself rises
linearly from 0 over a warm-up, so the model is not asked for all its sparsity at once.
"""

from __future__ import annotations

from typing import Any


class LagrangianController:
    """Holds lambda_1, lambda_2 (one optimizer of their own) and the target schedule."""

    def __init__(self, target: float, warmup_steps: int, start_step: int, lr: float) -> None:
        import torch

        self.target, self.warmup_steps, self.start_step = target, warmup_steps, start_step
        self.lambdas = torch.nn.Parameter(torch.zeros(2))
        # Ascent on the multipliers: flip their gradient and let an ordinary optimizer descend.
        self.lambdas.register_hook(lambda grad: -grad)
        self.optimizer = torch.optim.AdamW([self.lambdas], lr=lr, weight_decay=0.0)

    def target_at(self, step: int) -> float:
        """Linear warm-up of the target from 0, starting when pruning starts."""
        done = step - self.start_step
        if done < 0:
            return 0.0
        if self.warmup_steps <= 0:
            return self.target
        return self.target * min(1.0, done / self.warmup_steps)

    def penalty(self, expected_sparsity: Any, step: int) -> tuple[Any, dict[str, float]]:
        t = self.target_at(step)
        gap = expected_sparsity - t
        lam = self.lambdas.to(gap.device, gap.dtype)
        loss = lam[0] * gap + lam[1] * gap * gap
        lam_now = self.lambdas.detach()
        return loss, {"target": t, "lambda_1": float(lam_now[0]), "lambda_2": float(lam_now[1])}
