"""Fine-tune the compact colorizer into v2, which takes colour hints.

    python -m models.compact.train_guided --config models/compact/guided.json [--max-minutes M]

Starts from v1's weights (read out of ``models/compact/streamcolor-compact-v1.onnx``, the
file v1 shipped as; the guidance weights start at zero, so step 0 computes exactly v1), then
trains on the same photos, crops and loss as v1 with hints drawn from the true colours
(:mod:`.hints`: none, user points, a reference carried along the flow). The guidance weights
learn ``guide_lr_scale`` times faster than the rest. Reproducible and resumable like
:mod:`.train`: step ``k`` draws its batch and its hints from ``np.random.default_rng([seed,
k])``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from .guided import from_onnx, guidance
from .hints import sample_hints
from .train import ROOT, Trainer, _path, load_config, train

__all__ = ["GuidedTrainer", "main"]


class GuidedTrainer(Trainer):
    """:class:`~models.compact.train.Trainer` with the guided network and hints."""

    def __init__(self, config: dict, *, device: str | None = None) -> None:
        super().__init__(config, device=device)
        net, centers = from_onnx(_path(config["start_from"]), config["width"])
        if len(centers) != len(self.bins):
            raise ValueError("the start model's ab bins are not this trainer's")
        self.model = net.to(self.device)
        guides = {id(p) for p in net.guidance_parameters()}
        groups = [{"params": [p for p in net.parameters() if id(p) not in guides], "scale": 1.0},
                  {"params": net.guidance_parameters(), "scale": config["guide_lr_scale"]}]
        self.optimizer = torch.optim.AdamW(groups, lr=config["lr"],
                                           weight_decay=config["weight_decay"])

    def loss(self, lightness: torch.Tensor, ab: torch.Tensor, hint_ab: torch.Tensor,
             hint_mask: torch.Tensor) -> torch.Tensor:
        logits = self.model((lightness - 50.0) / 50.0, guidance(hint_ab, hint_mask))
        return self.rebalanced_ce(logits, ab)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """v1's batch, and hints drawn from its true colours with the same generator."""
        lightness, ab = super().sample(rng)
        return (lightness, ab, *sample_hints(ab, rng, tuple(self.config["hint_kinds"])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "models/compact/guided.json"))
    parser.add_argument("--max-minutes", type=float, help="stop (with a checkpoint) after this")
    parser.add_argument("--max-steps", type=int, help="stop at this step (schedule unchanged)")
    parser.add_argument("--resume-from", help="a checkpoint to resume from (default: last.pt "
                        "in the config's checkpoint_dir)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda if present)")
    args = parser.parse_args(argv)
    trainer = GuidedTrainer(load_config(args.config), device=args.device)
    return train(trainer, args, start=_path(args.resume_from) if args.resume_from else None)


if __name__ == "__main__":
    raise SystemExit(main())
