"""Learning-rate rules of the reference implementations, as the lr each epoch runs at.

The reference code adjusts the rate after epoch e (1-based) with a rule f(e), so epoch 1 runs at lr0 and
epoch n > 1 at f(n − 1). "TST" (OneCycle) is stepped per batch by the training strategy instead.
"""

import math

from harness.spec import TrainConfig

MAX_HALVINGS = 5  # Crossformer's lr tables (type1 after epochs 2..10, type2 after 5..25) stop at lr0 / 32


def rule_after_epoch(cfg: TrainConfig, e: int) -> float:
    lr0 = cfg.lr
    if cfg.lradj == "type1":  # TSLib / LTSF-Linear: halve every epoch from epoch 3 on
        return lr0 * 0.5 ** (e - 1)
    if cfg.lradj in ("type3", "patchtst"):  # PatchTST's utils/tools.py: lr0 while e < 3, then x0.9 per epoch
        return lr0 if e < 3 else lr0 * 0.9 ** (e - 3)
    if cfg.lradj == "cosine":  # TSLib: half-cosine over the epoch budget
        return lr0 / 2 * (1 + math.cos(e / cfg.epochs * math.pi))
    if cfg.lradj == "halve":  # Crossformer's utils/tools.py: halve every `halve_every` epochs, 5 times
        return lr0 * 0.5 ** min(e // cfg.halve_every, MAX_HALVINGS)
    return lr0  # "constant", and "TST" before its per-batch schedule takes over


ONE_CYCLE_DIV = 25  # torch's OneCycleLR default div_factor: its constructor sets the rate to max_lr / 25


def epoch_lr(cfg: TrainConfig, epoch: int) -> float:
    """The learning rate that epoch `epoch` (1-based) runs at.

    "patchtst" is `type3` as PatchTST's exp/exp_main.py runs it: the OneCycleLR it builds before training
    (and never steps outside lradj TST) leaves epoch 1 at lr0 / 25; type3 then sets lr0 for epochs 2-4 and
    x0.9 per epoch after."""
    if epoch == 1:
        return cfg.lr / ONE_CYCLE_DIV if cfg.lradj == "patchtst" else cfg.lr
    return rule_after_epoch(cfg, epoch - 1)
