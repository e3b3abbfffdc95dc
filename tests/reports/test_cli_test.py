"""The real pipeline: ``segattn test`` (FolderData, padded eval batches) vs ``segattn evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np

from segattn.commands import main as cli_main
from segattn.commands.evaluate import main as evaluate_main
from segattn.scoring.table import read_table
from tests.reports.helpers import make_folder

SIZES = [(40, 50), (64, 64), (33, 47), (48, 30), (64, 40), (37, 71)]  # none a multiple of 32 on both sides


def _config(tmp_path: Path, root: Path) -> Path:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""\
seed_everything: 3
trainer: {{logger: false, enable_progress_bar: false, enable_model_summary: false}}
model:
  net:
    class_path: segattn.models.AttentionUnet
    init_args: {{encoder_name: resnet18, encoder_depth: 3, decoder_channels: [16, 8, 8], attention: cbam}}
  lr_scheduler: null
data:
  class_path: segattn.data.FolderData
  init_args: {{root: {root}, num_classes: 2, val_fraction: 0.2, test_fraction: 0.5, batch_size: 2}}
""")
    return cfg


def test_segattn_test_report_equals_evaluate(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "data", sizes=SIZES)
    report = tmp_path / "report"
    L.seed_everything(3)
    # no checkpoint: the seeded, untrained network; enough to check that both paths score the same pixels
    cli_main(
        [
            "test",
            "--config",
            str(_config(tmp_path, root)),
            "--trainer.default_root_dir",
            str(tmp_path / "logs"),
            "--report.report_dir",
            str(report),
            "--report.tolerance",
            "1",
        ]
    )
    tested = read_table(report / "per_image.csv")
    assert 0 < len(tested.names) < len(SIZES)  # the test split only
    assert all(n.startswith("plan_") for n in tested.names)  # named as evaluate names files: no "images/" prefix

    evaluate_main(
        [
            "--pred",
            str(report / "predictions"),
            "--gt",
            str(root / "masks"),
            "--only_predicted",
            "--images",
            str(root / "images"),
            "--out",
            str(tmp_path / "eval"),
            "--tolerance",
            "1",
        ]
    )
    evaluated = read_table(tmp_path / "eval" / "per_image.csv")
    assert sorted(evaluated.names) == sorted(tested.names)
    order = [evaluated.names.index(n) for n in tested.names]
    np.testing.assert_array_equal(evaluated.counts[order], tested.counts)
    np.testing.assert_array_equal(evaluated.boundary[order], tested.boundary)
    s_test = json.loads((report / "summary.json").read_text())
    s_eval = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert s_test["classes"] == s_eval["classes"] and s_test["foreground"] == s_eval["foreground"]
    # every pixel of the original image is counted exactly once, none of the padding: in a binary task
    # tp0 + tp1 + fp1 + fn1 = all scored pixels
    sizes = dict(zip([f"plan_{i}" for i in range(len(SIZES))], SIZES, strict=True))
    for i, name in enumerate(tested.names):
        h, w = sizes[name]
        (tp0, _, _), (tp1, fp1, fn1) = tested.counts[i]
        assert tp0 + tp1 + fp1 + fn1 == h * w
