"""Dice reports: score mask folders or a test run, compare runs, run attention ablations.

``evaluate`` (two mask folders) and the ``ReportCallback`` (``segattn test``) share one scoring path
(``rows.score_pair``) and one writer (``writer.write_report``), so both produce the same files and numbers:
``per_image.csv``, ``summary.json``, ``report.md``, ``report.html`` and ``figures/``.
"""
