"""Make a module's ``init_cfg`` reach the ConvModules it holds directly."""
from typing import List

from mmengine.model import BaseModule
from mmengine.model.weight_init import initialize

from .pretrained import is_pretrained_cfg


def non_pretrained_init_cfgs(module: BaseModule) -> List[dict]:
    """The entries of ``module.init_cfg`` other than ``Pretrained``; ``[]`` if
    there is a ``Pretrained`` entry (see :func:`reapply_init_cfg`)."""
    init_cfg = module.init_cfg
    if not init_cfg:
        return []
    cfgs = [init_cfg] if isinstance(init_cfg, dict) else list(init_cfg)
    if any(is_pretrained_cfg(cfg) for cfg in cfgs):
        return []
    return cfgs


def reapply_init_cfg(module: BaseModule) -> None:
    """Apply ``module.init_cfg`` again, after its children's own init.

    mmengine's ``BaseModule.init_weights`` applies a module's ``init_cfg``
    first and then calls ``init_weights`` of each direct child that has one.
    mmcv's ``ConvModule`` has one that always re-draws its convolution
    (Kaiming, ``fan_out``) and resets its norm layer, so a ConvModule held
    directly by a module silently escapes that module's ``init_cfg`` (e.g.
    ``CSPDarknet53.stem``, while the ConvModules inside ``stages`` follow
    it). Called right after ``super().init_weights()``, this applies the
    ``init_cfg`` once more so that it holds for every layer it names.

    With a ``Pretrained`` entry nothing is re-applied: mmengine loads the
    checkpoint last, and a second random init would overwrite it.

    Args:
        module (BaseModule): The module whose ``init_weights`` just ran.
    """
    cfgs = non_pretrained_init_cfgs(module)
    if cfgs:
        # The initializers also update mmengine's per-parameter init record
        # when it exists.
        initialize(module, cfgs)


class InitCfgModule(BaseModule):
    """``BaseModule`` whose ``init_cfg`` also covers the ConvModules (or other
    modules with their own ``init_weights``) it holds directly.

    Its ``init_weights`` runs mmengine's and then, on the first call,
    :func:`reapply_init_cfg`.
    """

    def init_weights(self) -> None:
        """Initialise the module and its children, ``init_cfg`` last."""
        first_call = not self.is_init
        super().init_weights()
        if first_call:
            reapply_init_cfg(self)
