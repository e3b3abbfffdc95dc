"""``segattn test``'s report holds the attention maps of its best and worst images when the model has attention."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L

from segattn.callbacks import ReportCallback
from tests.reports.helpers import FolderData, make_folder, tiny_module


def _test(tmp_path: Path, attention: str | None, **kw) -> Path:
    L.seed_everything(0)
    root = tmp_path / "data"
    data = FolderData(root if root.exists() else make_folder(root))
    report = tmp_path / "report"
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[ReportCallback(str(report), examples=2, **kw)],
        max_steps=2,
    )
    module = tiny_module(attention)
    trainer.fit(module, data)
    trainer.test(module, data)
    return report


def test_the_report_lists_the_attention_maps_of_its_best_and_worst_images(tmp_path: Path) -> None:
    report = _test(tmp_path, "cbam")
    files = json.loads((report / "summary.json").read_text())["files"]
    maps = [f for f in files if f.startswith("attention/")]
    assert "attention/explain.html" in maps and "attention/explain.json" in maps
    assert all((report / f).is_file() for f in files)
    on_disk = {p.relative_to(report).as_posix() for p in (report / "attention").rglob("*") if p.is_file()}
    assert on_disk == set(maps) == {"attention/explain.html", "attention/explain.json"}  # the page only, listed
    index = json.loads((report / "attention" / "explain.json").read_text())
    assert len(index["images"]) == 4  # 2 best + 2 worst of the 5 test images
    assert all(im["tiles"] == 1 for im in index["images"])  # each image in one piece, as test_step saw it
    assert 'href="attention/explain.html"' in (report / "report.html").read_text()

    report = _test(tmp_path, None, overwrite=True)  # the same folder, now a model without attention
    assert not [p for p in (report / "attention").rglob("*") if p.is_file()]  # the old maps are gone
    assert "attention/" not in (report / "report.html").read_text()
