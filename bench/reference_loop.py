"""The hand-written smp loop segattn is measured against (issue 15): no segattn code, about 40 lines of training.

What a user would write in an afternoon: ``smp.Unet`` (resnet18, random init unless ``--encoder-weights``),
AdamW 1e-3 with a cosine schedule, BCE + soft Dice, random ``--crop``² crops with flips and 90-degree rotations
only, ImageNet normalisation; prediction on whole images padded to a multiple of 32. Binary masks (0 background,
1 foreground) in ``ROOT/masks``, images in ``ROOT/images``, split files ``ROOT/splits/{train,test}.txt``.

    python bench/reference_loop.py --root DATA --steps 132 --seed 0 --out OUT   # OUT/masks/<key>.png (0/255)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F

MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def read(root: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    image = next((root / "images").glob(f"{key}.*"))
    rgb = cv2.cvtColor(cv2.imread(str(image), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    mask = cv2.imread(str(next((root / "masks").glob(f"{key}.*"))), cv2.IMREAD_GRAYSCALE)
    return (rgb - MEAN) / STD, (mask > 0).astype(np.float32)


def batch(data: list, size: int, crop: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(size):
        image, mask = data[rng.integers(len(data))]
        ph, pw = max(0, crop - image.shape[0]), max(0, crop - image.shape[1])
        if ph or pw:  # smaller than a crop: pad (mask 0)
            image = np.pad(image, ((0, ph), (0, pw), (0, 0)))
            mask = np.pad(mask, ((0, ph), (0, pw)))
        y, x = rng.integers(image.shape[0] - crop + 1), rng.integers(image.shape[1] - crop + 1)
        img, msk = image[y : y + crop, x : x + crop], mask[y : y + crop, x : x + crop]
        k, flip = rng.integers(4), rng.integers(2)
        img, msk = np.rot90(img[:, ::-1] if flip else img, k), np.rot90(msk[:, ::-1] if flip else msk, k)
        xs.append(img.transpose(2, 0, 1).copy())
        ys.append(msk[None].copy())
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=132)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoder", default="resnet18")
    p.add_argument("--encoder-weights", default=None)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    keys = {s: (a.root / "splits" / f"{s}.txt").read_text().split() for s in ("train", "test")}
    train = [read(a.root, k) for k in keys["train"]]
    model = smp.Unet(a.encoder, encoder_weights=a.encoder_weights, classes=1)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.steps)
    dice = smp.losses.DiceLoss("binary", from_logits=True)
    start = time.perf_counter()
    model.train()
    for _ in range(a.steps):
        x, y = batch(train, a.batch, a.crop, rng)
        logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits, y) + dice(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    train_seconds = time.perf_counter() - start
    model.eval()
    (a.out / "masks").mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for key in keys["test"]:
            image, _ = read(a.root, key)
            h, w = image.shape[:2]
            x = torch.from_numpy(np.pad(image, ((0, -h % 32), (0, -w % 32), (0, 0))).transpose(2, 0, 1).copy())
            prob = model(x[None]).sigmoid()[0, 0, :h, :w].numpy()
            cv2.imwrite(str(a.out / "masks" / f"{key}.png"), ((prob > 0.5) * 255).astype(np.uint8))
    (a.out / "run.json").write_text(
        json.dumps({"train_seconds": train_seconds, "steps": a.steps, **vars(a)}, default=str)
    )


if __name__ == "__main__":
    main()
