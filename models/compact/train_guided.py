"""Fine-tune the compact colorizer into v2, which takes colour hints.

    python -m models.compact.train_guided --config models/compact/guided.json [--max-minutes M]

Starts from v1's weights (read out of ``models/compact/streamcolor-compact-v1.onnx``, the
file v1 shipped as; the guidance weights start at zero, so step 0 computes exactly v1), then
trains on the same photos, crops and loss as v1 with hints drawn from the true colours
(:mod:`.hints`: none, user points, a reference carried along the flow). The guidance weights
learn ``guide_lr_scale`` times faster than the rest. With ``distill`` > 0, pictures drawn
without hints also learn v1's own prediction (KL divergence to a frozen copy of the start
model, weighted by ``distill``), so the automatic result stays v1's. With
``freeze_backbone``, only the guidance weights learn (optionally starting from those of
``guidance_from``, a checkpoint): the guidance convolutions have no bias, so with no hints
the network computes v1 exactly, whatever they learn. Reproducible and resumable like
:mod:`.train`: step ``k`` draws its batch and its hints from ``np.random.default_rng([seed,
k])``.
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
from torch.nn import functional as F

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
        self.teacher = copy.deepcopy(self.model).eval().requires_grad_(False)  # v1, frozen
        if config.get("guidance_from"):
            state = torch.load(_path(config["guidance_from"]), map_location="cpu",
                               weights_only=False)["model"]
            for name, parameter in net.named_parameters():
                if name.endswith("guide.weight"):
                    parameter.data.copy_(state[name])
        guides = {id(p) for p in net.guidance_parameters()}
        backbone = [p for p in net.parameters() if id(p) not in guides]
        groups = [{"params": net.guidance_parameters(), "scale": config["guide_lr_scale"]}]
        if config.get("freeze_backbone"):
            for parameter in backbone:
                parameter.requires_grad_(False)
        else:
            groups.append({"params": backbone, "scale": 1.0})
        self.optimizer = torch.optim.AdamW(groups, lr=config["lr"],
                                           weight_decay=config["weight_decay"])

    def loss(self, lightness: torch.Tensor, ab: torch.Tensor, hint_ab: torch.Tensor,
             hint_mask: torch.Tensor) -> torch.Tensor:
        x = (lightness - 50.0) / 50.0
        guide = guidance(hint_ab, hint_mask)
        logits = self.model(x, guide)
        loss = self.rebalanced_ce(logits, ab)
        unhinted = hint_mask.flatten(1).amax(1) == 0
        weight = self.config.get("distill", 0.0)
        if weight and bool(unhinted.any()):
            with torch.no_grad():
                target = F.softmax(self.teacher(x[unhinted], guide[unhinted]), dim=1)
            kl = F.kl_div(F.log_softmax(logits[unhinted], dim=1), target, reduction="none")
            share = unhinted.float().mean()  # per picture, as the cross-entropy weighs it
            loss = loss + weight * share * kl.sum(1).mean()
        return loss

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
