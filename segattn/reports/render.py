"""The human report: Markdown (figures as files beside it) and one self-contained HTML page (figures embedded).

Both show the same numbers from the summary JSON, the per-image Dice histogram, the lowest-scoring images and the
best and worst images as panels (image when available, reference, prediction, errors).
"""

from __future__ import annotations

import base64
from html import escape

import cv2
import numpy as np

from segattn.reports.examples import ERROR_COLOURS, PANEL_ORDER, Example

_CLASS_COLUMNS = (
    ("Dice (dataset)", "dice_dataset"), ("Dice (mean/image)", "dice_mean_per_image"),
    ("IoU (dataset)", "iou_dataset"), ("IoU (mean/image)", "iou_mean_per_image"),
    ("precision", "precision_dataset"), ("recall", "recall_dataset"),
    ("boundary F1 (mean/image)", "boundary_f1_mean_per_image"), ("scored", "n_images_scored"),
    ("both empty", "n_both_empty"), ("ref. empty", "n_reference_empty"), ("pred. empty", "n_prediction_empty"),
)  # fmt: skip


def example_strip(ex: Example) -> np.ndarray:
    """The panels of one example side by side (RGB uint8), separated by a white gap."""
    panels = [ex.panels[k] for k in PANEL_ORDER if k in ex.panels]
    h = max(p.shape[0] for p in panels)
    gap = np.full((h, 6, 3), 255, np.uint8)
    padded = [np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0)), constant_values=255) for p in panels]
    return np.concatenate([x for p in padded for x in (p, gap)][:-1], axis=1)  # (h, sum(w) + gaps, 3)


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _fmt(v: object) -> str:
    if v is None:
        return "–"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _class_rows(summary: dict) -> list[list[str]]:
    return [[name, *(_fmt(c[key]) for _, key in _CLASS_COLUMNS)] for name, c in summary["classes"].items()]


def _headline(summary: dict) -> list[tuple[str, str]]:
    pf, src = summary["per_image_foreground"], summary["source"]
    ci = f"{_fmt(pf['dice_mean'])} (95% CI {_fmt(pf['ci95_low'])}–{_fmt(pf['ci95_high'])})"
    return [
        *((k, str(v)) for k, v in src.items()),
        ("number of images", str(summary["n_images"])),
        ("foreground Dice, mean per image", f"{ci}; {pf['n_images_scored']} scored, {pf['n_images_excluded']} excl."),
        ("foreground Dice, dataset (pooled)", _fmt(summary["foreground"]["dice_dataset"])),
        ("empty-mask rule", f"{summary['empty_rule']['name']}: {summary['empty_rule']['meaning']}"),
        ("boundary tolerance", f"{summary['boundary_tolerance_px']} px"),
    ]


def _lowest(names: list[str], fg: np.ndarray, n: int = 20) -> list[tuple[str, float]]:
    order = sorted((float(d), name) for name, d in zip(names, fg, strict=True) if not np.isnan(d))
    return [(name, d) for d, name in order[:n]]


def _legend() -> str:
    return ", ".join(f"{name} = rgb{rgb}" for name, rgb in ERROR_COLOURS.items())


def render_markdown(
    summary: dict, names: list[str], fg: np.ndarray, figures: dict[str, str], examples: dict[str, list[Example]]
) -> str:
    """Markdown report; ``figures`` maps "histogram" and example names to paths relative to the report."""
    lines = ["# Segmentation report", ""]
    lines += [f"- **{k}**: {v}" for k, v in _headline(summary)]
    head = ["class", *(t for t, _ in _CLASS_COLUMNS)]
    lines += ["", "## Per class", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in _class_rows(summary)]
    lines += ["", "## Foreground Dice per image", "", f"![Dice histogram]({figures['histogram']})", ""]
    for title, exs in examples.items():
        if not exs:
            continue
        lines += [f"## {title.capitalize()} images", "", f"Panels: {', '.join(_panel_names(exs))}. {_legend()}.", ""]
        for ex in exs:
            lines += [f"**{ex.name}** — Dice {ex.score:.4f}", "", f"![{ex.name}]({figures[f'{title}/{ex.name}']})", ""]
    lines += ["## Lowest-scoring images", "", "| image | foreground Dice |", "|---|---|"]
    lines += [f"| {n} | {d:.4f} |" for n, d in _lowest(names, fg)]
    lines += ["", "Every (image, class) row with counts: `per_image.csv`. All numbers: `summary.json`.", ""]
    return "\n".join(lines)


def _panel_names(exs: list[Example]) -> list[str]:
    return [k for k in PANEL_ORDER if k in exs[0].panels]


def table_html(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def render_html(
    summary: dict, names: list[str], fg: np.ndarray, histogram_svg: str, examples: dict[str, list[Example]]
) -> str:
    """One self-contained HTML page: the histogram inline as SVG, example panels as base64 PNG data URIs."""
    parts = ["<h1>Segmentation report</h1>", table_html(["", ""], [list(kv) for kv in _headline(summary)])]
    parts += ["<h2>Per class</h2>", table_html(["class", *(t for t, _ in _CLASS_COLUMNS)], _class_rows(summary))]
    parts += ["<h2>Foreground Dice per image</h2>", f"<figure>{histogram_svg}</figure>"]
    for title, exs in examples.items():
        if not exs:
            continue
        legend = f"Panels: {', '.join(_panel_names(exs))}. {_legend()}."
        parts += [f"<h2>{escape(title.capitalize())} images</h2>", f"<p>{escape(legend)}</p>"]
        for ex in exs:
            data = base64.b64encode(png_bytes(example_strip(ex))).decode("ascii")
            img = f'<img alt="{escape(ex.name)}" src="data:image/png;base64,{data}">'
            parts.append(f"<figure>{img}<figcaption>{escape(ex.name)} — Dice {ex.score:.4f}</figcaption></figure>")
    lowest = [[n, f"{d:.4f}"] for n, d in _lowest(names, fg)]
    parts += ["<h2>Lowest-scoring images</h2>", table_html(["image", "foreground Dice"], lowest)]
    return html_page("Segmentation report", parts)


STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;"
    "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}img{max-width:100%}"
)


def html_page(title: str, parts: list[str]) -> str:
    """A complete HTML5 document around ``parts`` (already-escaped HTML fragments)."""
    head = f'<head><meta charset="utf-8"><title>{escape(title)}</title><style>{STYLE}</style></head>'
    return f'<!DOCTYPE html>\n<html lang="en">{head}\n<body>\n' + "\n".join(parts) + "\n</body></html>\n"
