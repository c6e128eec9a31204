"""Inference-only rewrites of the loaded networks (the engine's fast path; docs/engine-neural.md).

* :func:`fold_batchnorm`: Conv → BatchNorm (eval) pairs become one convolution with
  w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β; the BatchNorm is replaced by ``Identity``. Only pairs
  where the norm directly follows the conv (not the pre-activation ResBlock norms).
* :func:`lower_precision`: a network's weights in bf16/fp16 and channels-last (the engine applies it to
  G and E_e); G's motion-field arithmetic and grid sampling stay float32 (see ``DenseMotionNetwork`` /
  ``warp``), E_e returns float32 features.
"""

from __future__ import annotations

import torch
from torch import nn

from eamm_core.engines.neural.models.anti_alias_downsample import AntiAliasDownsample
from eamm_core.engines.neural.models.basic_block import BasicBlock
from eamm_core.engines.neural.models.conv_bn_relu import ConvBnRelu
from eamm_core.engines.neural.models.down_block import DownBlock
from eamm_core.engines.neural.models.emotion_extractor import EmotionExtractor
from eamm_core.engines.neural.models.same_block import SameBlock
from eamm_core.engines.neural.models.up_block import UpBlock

#: module type -> (conv attribute, norm attribute) pairs where forward computes norm(conv(x))
FOLDABLE: dict[type, tuple[tuple[str, str], ...]] = {
    DownBlock: (("conv", "norm"),),
    UpBlock: (("conv", "norm"),),
    SameBlock: (("conv", "norm"),),
    ConvBnRelu: (("conv", "norm"),),
    BasicBlock: (("conv1", "bn1"), ("conv2", "bn2"), ("shortcut_conv", "shortcut_norm")),
    EmotionExtractor: (("conv1", "bn1"),),
}


@torch.no_grad()
def _fold(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    conv.weight.copy_((conv.weight.double() * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype))
    new_bias = ((bias - norm.running_mean.double()) * scale + norm.bias.double()).to(conv.weight.dtype)
    conv.bias = nn.Parameter(new_bias, requires_grad=False)


def fold_batchnorm(net: nn.Module) -> int:
    """Fold every foldable Conv → BatchNorm pair in place (eval only); returns how many were folded."""
    count = 0
    for module in net.modules():
        for conv_name, norm_name in FOLDABLE.get(type(module), ()):
            conv, norm = getattr(module, conv_name), getattr(module, norm_name)
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                _fold(conv, norm)
                setattr(module, norm_name, nn.Identity())
                count += 1
    return count


def lower_precision(generator: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A network's weights to ``dtype`` (channels-last), keeping the anti-alias kernels float32."""
    kernels = {name: m.kernel.detach().clone() for name, m in generator.named_modules()
               if isinstance(m, AntiAliasDownsample)}
    generator.to(dtype=dtype, memory_format=torch.channels_last)
    for name, m in generator.named_modules():
        if name in kernels:
            m.kernel = kernels[name]
    return generator
