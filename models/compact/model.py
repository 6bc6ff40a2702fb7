"""The compact colorizer network, its ab bins, and the graph that is exported to ONNX.

``CompactNet`` maps normalized L* (N,1,S,S) to logits over quantized ab bins (N,Q,S/4,S/4).
``Colorizer`` wraps it for export: L* 0..100 in, a*b* in Lab units out, with the
normalization and the annealed-mean readout (temperature, prior adjustment) in the graph.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["AB_STEP", "AB_EDGE", "gamut_bins", "CompactNet", "Colorizer", "count_macs"]

AB_STEP = 10.0
AB_EDGE = 110.0  # grid points at -110, -100, ..., 110 on both axes
_GRID = int(2 * AB_EDGE / AB_STEP) + 1


@functools.lru_cache(maxsize=1)
def gamut_bins() -> np.ndarray:
    """Indices (into the 23x23 ab grid, a-major) of grid points next to an sRGB colour.

    Every sRGB colour's four bilinear neighbours are kept, so the soft-encoded target of any
    training pixel falls entirely on kept bins.
    """
    levels = np.arange(0, 256, 3, dtype=np.float32) / 255.0
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    rgb = np.stack([r, g, b], axis=-1).reshape(-1, 1, 3)
    ab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3)[:, 1:]
    pos = (ab + AB_EDGE) / AB_STEP
    low = np.floor(pos).astype(int)
    keep = np.zeros((_GRID, _GRID), dtype=bool)
    for da in (0, 1):
        for db in (0, 1):
            a = np.clip(low[:, 0] + da, 0, _GRID - 1)
            keep[a, np.clip(low[:, 1] + db, 0, _GRID - 1)] = True
    return np.flatnonzero(keep.ravel())


def bin_centers(bins: np.ndarray) -> np.ndarray:
    """(Q, 2) a*b* of each kept bin."""
    a, b = np.divmod(bins, _GRID)
    return np.stack([a, b], axis=1).astype(np.float32) * AB_STEP - AB_EDGE


def soft_encode(ab: torch.Tensor, lookup: torch.Tensor, q: int) -> torch.Tensor:
    """(B,2,h,w) ab -> (B,Q,h,w) bilinear weights on the ab grid (mean equals ``ab``).

    ``lookup`` maps a grid index to its kept-bin index (or -1; such weight is dropped and
    the rest renormalized).
    """
    pos = ((ab.clamp(-AB_EDGE, AB_EDGE - 1e-3) + AB_EDGE) / AB_STEP)
    low = pos.floor()
    frac = pos - low
    low = low.long()
    batch, _, h, w = ab.shape
    out = ab.new_zeros(batch, q + 1, h, w)
    for da in (0, 1):
        for db in (0, 1):
            wa = frac[:, 0] if da else 1 - frac[:, 0]
            wb = frac[:, 1] if db else 1 - frac[:, 1]
            grid = (low[:, 0] + da) * _GRID + (low[:, 1] + db)
            index = lookup[grid.clamp(0, _GRID * _GRID - 1)]
            index = torch.where(index < 0, torch.full_like(index, q), index)
            out.scatter_add_(1, index[:, None], (wa * wb)[:, None])
    out = out[:, :q]
    return out / out.sum(1, keepdim=True).clamp_min(1e-6)


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, dilation=dilation),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class _GlobalContext(nn.Module):
    """Adds a projection of the image's mean feature to every position (scene-level cues)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.project(x.mean((2, 3), keepdim=True)))


class CompactNet(nn.Module):
    """A small U-Net: encoder to 1/16 with dilated residual blocks, decoder back to 1/4."""

    def __init__(self, q: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.stem = _conv(1, w * 3 // 4, stride=2)                       # 1/2
        self.enc1 = nn.Sequential(_conv(w * 3 // 4, w, 2), _conv(w, w))  # 1/4
        self.enc2 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))  # 1/8
        self.enc3 = nn.Sequential(_conv(2 * w, 4 * w, 2), _Residual(4 * w, 1),
                                  _Residual(4 * w, 2), _GlobalContext(4 * w),
                                  _Residual(4 * w, 4))                    # 1/16
        self.dec2 = _conv(6 * w, 2 * w)
        self.dec1 = nn.Sequential(_conv(3 * w, 2 * w), _conv(2 * w, 2 * w))
        self.head = nn.Conv2d(2 * w, q, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(self.stem(x))
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        up = F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False)
        d2 = self.dec2(torch.cat([up, e2], 1))
        up = F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.dec1(torch.cat([up, e1], 1)))


class Colorizer(nn.Module):
    """Export wrapper: L* (N,1,S,S) 0..100 -> a*b* (N,2,S/4,S/4) by annealed mean.

    ``probs ∝ exp((logits - shift * log prior) / temperature)``; ``shift`` > 0 removes part
    of the training prior from the prediction (more vivid), < 0 adds it (more muted).
    """

    def __init__(self, net: CompactNet, centers: np.ndarray, log_prior: np.ndarray,
                 temperature: float, shift: float) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("bias", torch.tensor(-shift * log_prior / temperature,
                                                  dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("centers", torch.tensor(centers.T[:, :, None, None].copy()))
        self.inv_t = 1.0 / temperature

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        logits = self.net((lightness - 50.0) / 50.0) * self.inv_t + self.bias
        probs = torch.softmax(logits, dim=1)
        return F.conv2d(probs, self.centers)


def count_macs(model: nn.Module, size: int) -> int:
    """Multiply-accumulates of convolutions for one (1,1,size,size) picture."""
    total = 0

    def hook(module, _inputs, output):
        nonlocal total
        k = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
        total += output.numel() * k

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, 1, size, size))
    for h in handles:
        h.remove()
    return total
