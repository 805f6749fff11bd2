"""The optimizers of a ViT: AdamW (or SGD) for Euclidean weights, geoopt's Riemannian ones for Stiefel bases."""

from __future__ import annotations

import torch

import rope_blocks as rb

OPTIMIZERS = ("sgd", "adamw")  # the choices of TrainConfig.optimizer


def build_optimizers(
    model: torch.nn.Module, optimizer: str = "adamw", lr: float = 1e-3, weight_decay: float = 0.01
) -> list[torch.optim.Optimizer]:
    """One optimizer for the Euclidean weights, and a Riemannian one when the model has Stiefel bases.

    Norms, biases, tokens, the absolute embedding and the rotation parameters (``model.no_weight_decay()``)
    are not decayed.
    """
    import geoopt  # after rope_blocks, which silences its import-time warning

    manifold = {id(p) for p in rb.stiefel_parameters(model)}
    skip = model.no_weight_decay()
    decay, no_decay, riemannian = [], [], []
    for name, p in model.named_parameters():
        if id(p) in manifold:
            riemannian.append(p)
        elif p.ndim < 2 or name in skip:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if optimizer == "adamw":
        opts = [torch.optim.AdamW(groups, lr=lr)]
        if riemannian:
            opts.append(geoopt.optim.RiemannianAdam(riemannian, lr=lr))
    else:
        opts = [torch.optim.SGD(groups, lr=lr, momentum=0.9)]
        if riemannian:
            opts.append(geoopt.optim.RiemannianSGD(riemannian, lr=lr, momentum=0.9))
    return opts


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict) -> None:
    import geoopt

    opt.load_state_dict(state)
    if isinstance(opt, (geoopt.optim.RiemannianAdam, geoopt.optim.RiemannianSGD)):
        # torch hands "step" back as a float32 tensor; geoopt counts in Python ints, and its bias
        # correction beta ** step in float32 would make a resumed run drift from an uninterrupted one.
        for param_state in opt.state.values():
            if "step" in param_state:
                param_state["step"] = int(param_state["step"])
