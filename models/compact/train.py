"""Train the compact colorizer.

    python -m models.compact.train --config models/compact/config.json [--max-minutes M]

Classification over quantized ab (bilinear soft targets on a 10-unit grid restricted to the
sRGB gamut) with mild class rebalancing. Reproducible: every step draws its batch from
``np.random.default_rng([seed, step])``, so a run stopped and resumed from its checkpoint
continues exactly as an uninterrupted one. Checkpoints go to ``checkpoint_dir/last.pt``
every ``checkpoint_every_s`` seconds and at the end; ``--max-minutes`` stops early (resume
later with the same command). Uses CUDA when present, else the CPU with 2 threads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import time

import numpy as np
import torch
from torch.nn import functional as F

from .data import build_cache, load_cache, rgb_to_lab, sample_batch
from .model import CompactNet, gamut_bins, soft_encode

__all__ = ["load_config", "Trainer", "main", "train"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPUT_STRIDE = 4


def load_config(path: str | os.PathLike, **overrides) -> dict:
    """The training config (JSON) with ``overrides`` applied; relative paths are from the repo."""
    config = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    config.update({k: v for k, v in overrides.items() if v is not None})
    return config


def _path(value: str) -> pathlib.Path:
    path = pathlib.Path(value).expanduser()
    return path if path.is_absolute() else ROOT / path


def split_indices(count: int, holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) indices of the cached photos; the holdout is for tuning the readout."""
    order = np.random.default_rng([seed, 7]).permutation(count)
    return np.sort(order[holdout:]), np.sort(order[:holdout])


def class_prior(pictures: np.ndarray, lookup: torch.Tensor, q: int, count: int,
                seed: int) -> np.ndarray:
    """Empirical ab-bin distribution of up to ``count`` photos (at 1/4 resolution)."""
    rng = np.random.default_rng([seed, 11])
    index = rng.choice(len(pictures), size=min(count, len(pictures)), replace=False)
    total = torch.zeros(q, dtype=torch.float64)
    for start in range(0, len(index), 256):
        lab = np.stack([rgb_to_lab(pictures[i]) for i in index[start : start + 256]])
        ab = torch.from_numpy(lab[..., 1:].transpose(0, 3, 1, 2).copy())
        ab = F.avg_pool2d(ab, OUTPUT_STRIDE)
        total += soft_encode(ab, lookup, q).sum((0, 2, 3)).double()
    prior = (total + 1e-3) / (total + 1e-3).sum()
    return prior.float().numpy()


def rebalance_weights(prior: np.ndarray, lam: float, power: float) -> np.ndarray:
    """Per-bin loss weights ((1-λ)p + λ/Q)^-power, scaled so their expectation under p is 1."""
    weights = ((1 - lam) * prior + lam / len(prior)) ** -power
    return (weights / (prior * weights).sum()).astype(np.float32)


class Trainer:
    """One training run: data, model, optimizer, and its checkpoint."""

    def __init__(self, config: dict, *, device: str | None = None) -> None:
        self.config = config
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cpu":
            torch.set_num_threads(int(config.get("threads", 2)))
        cache = _path(config["cache"])
        if not cache.exists():
            build_cache(_path(config["train_dir"]), cache, size=config["cache_size"],
                        limit=config.get("limit"))
        pictures, self.names = load_cache(cache)
        train_idx, hold_idx = split_indices(len(pictures), config["holdout"], config["seed"])
        self.pictures = pictures[train_idx]
        self.holdout_names = [self.names[i] for i in hold_idx]
        self.bins = gamut_bins()
        q = len(self.bins)
        lookup = torch.full((23 * 23,), -1, dtype=torch.long)
        lookup[torch.from_numpy(self.bins)] = torch.arange(q)
        self.lookup = lookup.to(self.device)
        self.prior = class_prior(self.pictures, lookup, q, config["prior_images"], config["seed"])
        weights = rebalance_weights(self.prior, config["rebalance_lambda"],
                                    config["rebalance_power"])
        self.weights = torch.from_numpy(weights).to(self.device)
        torch.manual_seed(config["seed"])
        self.model = CompactNet(q, config["width"]).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config["lr"],
                                           weight_decay=config["weight_decay"])
        self.step = 0
        self.elapsed = 0.0

    @property
    def checkpoint_path(self) -> pathlib.Path:
        return _path(self.config["checkpoint_dir"]) / "last.pt"

    def learning_rate(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 2% of the peak at ``total_steps``."""
        c = self.config
        if step < c["warmup_steps"]:
            return c["lr"] * (step + 1) / c["warmup_steps"]
        span = max(1, c["total_steps"] - c["warmup_steps"])
        progress = min(1.0, (step - c["warmup_steps"]) / span)
        return c["lr"] * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))

    def loss(self, lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """Rebalanced cross-entropy between predicted logits and soft-encoded ab."""
        return self.rebalanced_ce(self.model((lightness - 50.0) / 50.0), ab)

    def rebalanced_ce(self, logits: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """The loss of ``logits`` (B,Q,h,w) against the true ab (B,2,4h,4w)."""
        target = soft_encode(F.avg_pool2d(ab, OUTPUT_STRIDE), self.lookup, len(self.bins))
        pixel_weight = torch.einsum("bqhw,q->bhw", target, self.weights)
        ce = -(target * F.log_softmax(logits, dim=1)).sum(1)
        return (ce * pixel_weight).mean()

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """One step's batch: the arguments of :meth:`loss`, as arrays."""
        c = self.config
        return sample_batch(self.pictures, rng, batch=c["batch"], crop=c["crop"],
                            min_area=c["min_area"], noise=c["noise"])

    def train_step(self) -> float:
        arrays = self.sample(np.random.default_rng([self.config["seed"], self.step]))
        for group in self.optimizer.param_groups:  # a group may learn at a multiple
            group["lr"] = self.learning_rate(self.step) * group.get("scale", 1.0)
        self.model.train()
        loss = self.loss(*(torch.from_numpy(a).to(self.device) for a in arrays))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def state(self) -> dict:
        """Everything needed to resume or export."""
        return {"step": self.step, "elapsed": self.elapsed, "config": self.config,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "bins": self.bins, "prior": self.prior, "holdout_names": self.holdout_names}

    def save(self, path: pathlib.Path | None = None) -> pathlib.Path:
        """Write the checkpoint atomically (and a numbered copy beside it)."""
        path = path or self.checkpoint_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(self.state(), tmp)
        tmp.replace(path)
        if path == self.checkpoint_path:
            copy = path.with_name(f"step{self.step:06d}.pt")
            copy.write_bytes(path.read_bytes())
        return path

    def load(self, path: pathlib.Path | None = None) -> bool:
        """Resume from a checkpoint if there is one; True if loaded."""
        path = path or self.checkpoint_path
        if not path.exists():
            return False
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.elapsed = state["step"], state["elapsed"]
        return True

    def run(self, *, max_steps: int | None = None, max_seconds: float | None = None,
            log=print) -> None:
        """Train until ``total_steps`` (or the limits), checkpointing on the way."""
        c = self.config
        end = c["total_steps"] if max_steps is None else min(c["total_steps"], max_steps)
        started = last_save = run_started = time.monotonic()
        seen, running = 0, 0.0
        while self.step < end:
            t0 = time.monotonic()
            running += self.train_step()
            seen += 1
            self.elapsed += time.monotonic() - t0
            if self.step % c["log_every"] == 0:
                rate = seen * c["batch"] / (time.monotonic() - started)
                log(f"step {self.step} loss {running / seen:.4f} lr "
                    f"{self.learning_rate(self.step):.2e} {rate:.0f} img/s "
                    f"elapsed {self.elapsed / 60:.1f} min", flush=True)
                started, seen, running = time.monotonic(), 0, 0.0
            now = time.monotonic()
            if now - last_save > c["checkpoint_every_s"]:
                self.save()
                last_save = now
            if max_seconds is not None and now - run_started > max_seconds:
                break
        self.save()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "models/compact/config.json"))
    parser.add_argument("--max-minutes", type=float, help="stop (with a checkpoint) after this")
    parser.add_argument("--max-steps", type=int, help="stop at this step (schedule unchanged)")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument("--device", help="cpu or cuda (default: cuda if present)")
    args = parser.parse_args(argv)
    trainer = Trainer(load_config(args.config), device=args.device)
    return train(trainer, args, resume=not args.fresh)


def train(trainer: Trainer, args, *, resume: bool = True,
          start: pathlib.Path | None = None) -> int:
    """Resume ``trainer`` (from ``start``, else its last checkpoint) and train it as the
    command line asked (``--max-steps``, ``--max-minutes``), saying what it does."""
    if resume and trainer.load(start):
        print(f"resumed at step {trainer.step}", flush=True)
    print(f"{len(trainer.pictures)} training photos, {len(trainer.bins)} ab bins, "
          f"{sum(p.numel() for p in trainer.model.parameters())} parameters, "
          f"device {trainer.device}", flush=True)
    trainer.run(max_steps=args.max_steps,
                max_seconds=None if args.max_minutes is None else 60 * args.max_minutes)
    print(f"saved {trainer.checkpoint_path} at step {trainer.step}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
