"""Dice reports: score mask folders or a test run, compare runs, run attention ablations.

    segattn evaluate --pred masks/ --gt data/walls/masks --out report/ [--images data/walls/images]
    segattn test --config runs/cbam/config.yaml --ckpt_path ... [--report.report_dir DIR]   # the same report
    segattn compare runs/unet runs/cbam runs/self_attention --baseline runs/unet --out cmp/
    segattn ablate --config configs/unet.yaml --attention none,se,cbam,self_attention --seeds 3 --out ablation/

``evaluate`` (two mask folders) and ``ReportCallback`` (``segattn test``) share one scoring function
(``rows.score_pair``: ``segattn.metrics.confusion_counts`` + ``boundary.boundary_counts``) and one writer
(``writer.write_report``), so both produce the same files and numbers:

- ``per_image.csv``: one row per (image, class): Dice, IoU, precision, recall, boundary F1, TP/FP/FN, predicted and
  reference pixels, and the raw boundary counts (every score can be recomputed from the row);
- ``summary.json``: per class the dataset-level (pooled) and mean per-image scores, empty-case counts, and the
  empty-mask rule in words; the per-image foreground Dice with a bootstrap 95% interval;
- ``report.md`` + ``figures/`` and a self-contained ``report.html``: numbers, Dice histogram, best and worst images;
- ``run.json`` (``segattn test`` only): parameters, FLOPs, training step and inference time, measured or "n/a".

Module map: ``boundary`` (boundary F1), ``rows`` (per-image counts <-> CSV), ``stats`` (bootstrap, Wilcoxon, Holm),
``summary`` (summary JSON), ``examples`` + ``svg`` + ``render`` (figures and pages), ``writer`` (report folder),
``evaluate``, ``callback``, ``runs`` + ``compare``, ``ablate``, ``cli`` (the three ``*_main(argv)`` entry points).
"""
