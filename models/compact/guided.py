"""The guided compact colorizer (v2): today's network plus colour hints.

``GuidedNet`` is :class:`~models.compact.model.CompactNet` with its BatchNorm folded into the
convolutions (as the shipped ONNX file holds it) and guidance in SIGGRAPH17's form: hint a*b*
(N,2,S,S) and a 0/1 mask (N,1,S,S) at model resolution. The guidance enters twice, through
channels that start at zero, so a freshly built v2 computes exactly what v1 computes:

- beside L* at the stem (the network sees where the hints are);
- at 1/8 into the 1/16 stage, whose dilated blocks and global context spread a hint over its
  region;
- at 1/4 into the decoder's last stage (hint colour and coverage, box-averaged), so a hint
  lands where it was put.

:func:`from_onnx` reads v1's weights out of ``streamcolor-compact.onnx`` (no checkpoint of v1
needs to exist): the convolutions in the file's node order are the network's in forward order.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["AB_SCALE", "GUIDE_CHANNELS", "GuidedNet", "GuidedColorizer", "from_onnx"]

AB_SCALE = 110.0  # hint a*b* are divided by this on the way in
GUIDE_CHANNELS = 3  # a*, b*, mask


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation),
                         nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, dilation=dilation),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class _GlobalContext(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.project(x.mean((2, 3), keepdim=True)))


class _GuidedConv(nn.Module):
    """A 3x3 convolution of the features plus one of the guidance, then ReLU. The guidance
    convolution is its own (zero-initialised) weight, so it can learn at its own rate."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, padding=1)
        self.guide = nn.Conv2d(GUIDE_CHANNELS, cout, 3, stride, padding=1, bias=False)
        nn.init.zeros_(self.guide.weight)

    def forward(self, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x) + self.guide(guide))


class GuidedNet(nn.Module):
    """Normalized L* (N,1,S,S) and guidance (N,3,S,S) -> logits over ab bins (N,Q,S/4,S/4).

    The guidance enters at full resolution (the stem), at 1/8 (the input of the 1/16 stage,
    whose dilated blocks and global context spread it over regions) and at 1/4 (the decoder's
    last stage, so a hint lands where it was put)."""

    def __init__(self, q: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.stem = _GuidedConv(1, w * 3 // 4, stride=2)
        self.enc1 = nn.Sequential(_conv(w * 3 // 4, w, 2), _conv(w, w))
        self.enc2 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))
        self.enc3_in = _GuidedConv(2 * w, 4 * w, stride=2)
        self.enc3 = nn.Sequential(_Residual(4 * w, 1), _Residual(4 * w, 2),
                                  _GlobalContext(4 * w), _Residual(4 * w, 4))
        self.dec2 = _conv(6 * w, 2 * w)
        self.dec1_in = _GuidedConv(3 * w, 2 * w)
        self.dec1 = _conv(2 * w, 2 * w)
        self.head = nn.Conv2d(2 * w, q, 1)

    def forward(self, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(self.stem(x, guide))
        e2 = self.enc2(e1)
        e3 = self.enc3(self.enc3_in(e2, _pooled(guide, 8)))
        up = F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False)
        d2 = self.dec2(torch.cat([up, e2], 1))
        up = F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.dec1(self.dec1_in(torch.cat([up, e1], 1), _pooled(guide, 4))))

    def guidance_parameters(self) -> list[nn.Parameter]:
        """The weights that read the guidance (they start at zero)."""
        return [m.guide.weight for m in (self.stem, self.enc3_in, self.dec1_in)]


def _pooled(guide: torch.Tensor, factor: int) -> torch.Tensor:
    """Guidance at 1/``factor`` resolution (rounded up as the strided convolutions round):
    the mean hint colour where there are hints, and the share of each cell that has one."""
    mask = F.avg_pool2d(guide[:, 2:3], factor, ceil_mode=True)
    colour = F.avg_pool2d(guide[:, :2] * guide[:, 2:3], factor, ceil_mode=True)
    colour = colour / mask.clamp_min(1e-3)
    return torch.cat([colour * (mask > 0), mask], 1)


def guidance(hint_ab: torch.Tensor, hint_mask: torch.Tensor) -> torch.Tensor:
    """(N,2,S,S) a*b* and (N,1,S,S) 0/1 mask -> the network's (N,3,S,S) guidance."""
    return torch.cat([hint_ab * hint_mask / AB_SCALE, hint_mask], 1)


class GuidedColorizer(nn.Module):
    """Export wrapper: L*, hint a*b*, hint mask -> a*b* (N,2,S/4,S/4) by annealed mean."""

    def __init__(self, net: GuidedNet, centers: np.ndarray, temperature: float) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("centers", torch.tensor(centers.T[:, :, None, None].copy()))
        self.inv_t = 1.0 / temperature

    def forward(self, lightness: torch.Tensor, hint_ab: torch.Tensor,
                hint_mask: torch.Tensor) -> torch.Tensor:
        logits = self.net((lightness - 50.0) / 50.0, guidance(hint_ab, hint_mask)) * self.inv_t
        return F.conv2d(torch.softmax(logits, dim=1), self.centers)


def _convs_in_forward_order(net: GuidedNet) -> list[nn.Conv2d]:
    """v1's convolutions (the guidance ones are v2's own), in the order they run."""
    order: list[nn.Conv2d] = []
    guides = {id(w) for w in net.guidance_parameters()}
    hooks = [m.register_forward_hook(lambda m, *_: order.append(m))
             for m in net.modules() if isinstance(m, nn.Conv2d) and id(m.weight) not in guides]
    with torch.no_grad():
        net.eval()
        net(torch.zeros(1, 1, 64, 64), torch.zeros(1, GUIDE_CHANNELS, 64, 64))
    for hook in hooks:
        hook.remove()
    return order


def from_onnx(path, width: int = 32) -> tuple[GuidedNet, np.ndarray]:
    """A :class:`GuidedNet` holding the v1 weights of the ONNX file at ``path`` (guidance
    weights zero), and the file's (Q, 2) bin centres."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    centers = tensors["centers"][:, :, 0, 0].T.copy()
    net = GuidedNet(len(centers), width)
    modules = _convs_in_forward_order(net)
    if len(modules) != len(convs) - 1:  # the file's last Conv is the annealed mean
        raise ValueError(f"{path}: {len(convs) - 1} convolutions, the network has {len(modules)}")
    with torch.no_grad():
        for module, node in zip(modules, convs, strict=False):
            module.weight.copy_(torch.from_numpy(tensors[node.input[1]].copy()))
            module.bias.copy_(torch.from_numpy(tensors[node.input[2]].copy()))
    return net, centers
