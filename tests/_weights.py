"""Non-trivial weights for equivalence tests of randomly initialised models.

A freshly built model's BN layers are identities (mean 0, variance 1, weight 1,
bias 0): a conversion, export or folding that mishandles them would still
match. Its head, with the prediction convs' default init, saturates: boxes
clamp to the frame and scores tie, so that the order of detections (hence NMS)
is decided by rounding.
"""
from typing import Optional

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def randomize_bn(model: nn.Module,
                 seed: int = 0,
                 affine: bool = True) -> torch.Generator:
    """Give every BN layer of ``model`` random running statistics (mean ~
    0.1 N(0, 1), variance in [0.5, 1.5)) and, with ``affine``, random affine
    parameters (weight in [0.5, 1.5), bias ~ 0.1 N(0, 1)), in place.

    The affine draws make activations grow with depth, and with them the
    absolute rounding differences between two implementations: tests of an
    absolute tolerance in pixels state which they use.

    Returns:
        torch.Generator: The generator, seeded with ``seed``, after these
        draws (for further draws from the same sequence).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                n = module.num_features
                if affine:
                    module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                    module.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
    return gen


def tame_head(model: nn.Module, gen: Optional[torch.Generator] = None) -> None:
    """Scale a YOWO head's prediction convs' weights by 0.1 so that the boxes
    stay near their distinct anchors instead of the clamped extremes of a raw
    Kaiming init, in place.

    With ``gen``, also draw their biases from N(0, 1):
    scores spread over (0, 1) instead of the ``prior_prob`` bias init's 1e-4
    (and boxes up to a few anchor sizes).
    """
    with torch.no_grad():
        for pred in model.bbox_head.head_module.preds:
            pred.weight.mul_(0.1)
            if gen is not None:
                pred.bias.copy_(torch.randn(pred.bias.shape, generator=gen))
