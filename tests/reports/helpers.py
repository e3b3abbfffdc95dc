"""A tiny folder dataset following the batch contract (padded eval batches, names, indices, original sizes).

The report tests need test batches before (and independently of) the real DataModule: images of different sizes,
padded at the bottom/right to a multiple of 32 with the mask padded with 255, exactly as the contract states.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from segattn.data.io import read_image, read_mask
from segattn.models import AttentionUnet
from segattn.module import SegmentationModule

SIZES = [(40, 50), (64, 64), (33, 47), (48, 30), (64, 40)]  # (H, W)


def make_folder(root: Path, sizes: list[tuple[int, int]] = SIZES, seed: int = 0) -> Path:
    """``root/images/*.png`` (RGB) and ``root/masks/*.png`` (0/1): dark walls on a grey page."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (h, w) in enumerate(sizes):
        mask = np.zeros((h, w), np.uint8)
        r, c = rng.integers(4, h - 8), rng.integers(4, w - 8)
        mask[r : r + 3, 2 : w - 2] = 1  # a horizontal wall
        mask[2 : h - 2, c : c + 3] = 1  # a vertical wall
        img = np.full((h, w, 3), 190, np.uint8) + rng.integers(0, 20, (h, w, 3), dtype=np.uint8)
        img[mask == 1] = 40
        cv2.imwrite(str(root / "images" / f"plan_{i}.png"), img)
        cv2.imwrite(str(root / "masks" / f"plan_{i}.png"), mask)
    return root


class FolderSet(Dataset):
    def __init__(self, root: Path) -> None:
        self.files = sorted((root / "images").glob("*.png"))
        self.root = root

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict:
        img = read_image(self.files[i], 3)  # (H, W, 3) in [0, 1]
        mask = read_mask(self.root / "masks" / self.files[i].name, "index", None, 2)
        return {"image": (img - 0.5) / 0.25, "mask": mask, "name": self.files[i].name, "index": i}


def pad_collate(items: list[dict]) -> dict:
    """Pad every image to the batch's largest size rounded up to 32, at the bottom and right."""
    h = max(it["mask"].shape[0] for it in items)
    w = max(it["mask"].shape[1] for it in items)
    H, W = -(-h // 32) * 32, -(-w // 32) * 32
    images = torch.zeros(len(items), 3, H, W)
    masks = torch.full((len(items), H, W), 255, dtype=torch.long)
    for j, it in enumerate(items):
        ih, iw = it["mask"].shape
        images[j, :, :ih, :iw] = torch.from_numpy(it["image"]).permute(2, 0, 1)  # (3, h, w)
        masks[j, :ih, :iw] = torch.from_numpy(it["mask"]).long()
    return {
        "image": images,
        "mask": masks,
        "name": [it["name"] for it in items],
        "index": torch.tensor([it["index"] for it in items]),
        "orig_size": torch.tensor([it["mask"].shape for it in items]),
    }


class FolderData(L.LightningDataModule):
    num_classes = 2

    def __init__(self, root: Path, batch_size: int = 2) -> None:
        super().__init__()
        self.root, self.batch_size = root, batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(FolderSet(self.root), batch_size=self.batch_size, shuffle=True, collate_fn=pad_collate)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(FolderSet(self.root), batch_size=self.batch_size, collate_fn=pad_collate)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()


def tiny_module(attention: str | None = None) -> SegmentationModule:
    net = AttentionUnet("resnet18", encoder_depth=3, decoder_channels=(16, 8, 8), attention=attention)
    return SegmentationModule(net, num_classes=2, lr_scheduler=None)
