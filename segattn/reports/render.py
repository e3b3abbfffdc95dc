"""The human report: Markdown (figures as files beside it) and one self-contained HTML page (figures embedded).

Both show the same numbers from the summary JSON, the per-image Dice histogram, the lowest-scoring images and the
best and worst images as panels (image when available, reference, prediction, errors), each panel captioned.

The HTML page is read in a browser at any width, a phone's included: a viewport meta tag, every table in a wrapper
that scrolls sideways instead of the page, charts and panels that shrink to the width, colour legends drawn as
swatches. Panels are embedded one by one as JPEG or PNG, whichever is smaller: a scanned page's paper noise makes
PNG large, while flat masks drawn without an image are smaller (and exact) as PNG. JPEG keeps full colour resolution
(4:4:4) so thin error lines keep their colour.
"""

from __future__ import annotations

import base64
from html import escape

import cv2
import numpy as np

from segattn.reports.examples import ERROR_COLOURS, PANEL_ORDER, Example, class_colours

_CLASS_COLUMNS = (
    ("Dice (dataset)", "dice_dataset"),
    ("Dice (mean/image)", "dice_mean_per_image"),
    ("IoU (dataset)", "iou_dataset"),
    ("IoU (mean/image)", "iou_mean_per_image"),
    ("precision", "precision_dataset"),
    ("recall", "recall_dataset"),
    ("boundary F1 (mean/image)", "boundary_f1_mean_per_image"),
    ("scored", "n_images_scored"),
    ("both empty", "n_both_empty"),
    ("ref. empty", "n_reference_empty"),
    ("pred. empty", "n_prediction_empty"),
)
JPEG_QUALITY = 80
_CAPTION_PX = 22  # height of the caption band drawn above each panel of a strip


def example_strip(ex: Example, *, captions: bool = True) -> np.ndarray:
    """The panels of one example side by side (RGB uint8), separated by a white gap, each under its name."""
    panels = [_captioned(ex.panels[k], k) if captions else ex.panels[k] for k in PANEL_ORDER if k in ex.panels]
    h = max(p.shape[0] for p in panels)
    gap = np.full((h, 6, 3), 255, np.uint8)
    padded = [np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0)), constant_values=255) for p in panels]
    return np.concatenate([x for p in padded for x in (p, gap)][:-1], axis=1)  # (h, sum(w) + gaps, 3)


def _captioned(panel: np.ndarray, text: str) -> np.ndarray:
    band = np.full((_CAPTION_PX, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (3, _CAPTION_PX - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, panel], axis=0)  # (caption + h, w, 3)


def png_bytes(rgb: np.ndarray) -> bytes:
    """``(H, W, 3)`` RGB uint8 as PNG, compressed as far as PNG goes (lossless, so only time is spent)."""
    return _encode(".png", rgb, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def jpeg_bytes(rgb: np.ndarray, *, quality: int = JPEG_QUALITY) -> bytes:
    """``(H, W, 3)`` RGB uint8 as JPEG with unsubsampled colour (4:4:4), so one-pixel coloured lines stay coloured."""
    sampling = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    return _encode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality, *sampling])


def _encode(ext: str, rgb: np.ndarray, params: list[int]) -> bytes:
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError(f"{ext} encoding failed")
    return buf.tobytes()


def data_uri(rgb: np.ndarray, *, quality: int = JPEG_QUALITY) -> str:
    """The smaller of the JPEG and the PNG of ``rgb`` as a ``data:`` URI."""
    jpeg, png = jpeg_bytes(rgb, quality=quality), png_bytes(rgb)
    mime, data = ("image/png", png) if len(png) <= len(jpeg) else ("image/jpeg", jpeg)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


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
    summary: dict,
    names: list[str],
    fg: np.ndarray,
    figures: dict[str, str],
    examples: dict[str, list[Example]],
    *,
    links: list[tuple[str, str]] | None = None,
) -> str:
    """Markdown report; ``figures`` maps "histogram" and example names to paths relative to the report; ``links``:
    (relative path, text) of other pages of the report."""
    lines = ["# Segmentation report", ""]
    lines += [f"- **{k}**: {v}" for k, v in _headline(summary)]
    lines += [f"- **see also**: [{text}]({href})" for href, text in links or []]
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


def table_html(head: list[str], rows: list[list[str]], *, row_headers: bool = False) -> str:
    """A table in a wrapper that scrolls sideways when the table is wider than the page (the page itself never does).

    ``row_headers``: the first cell of each row names the row (``<th scope="row">``, kept in view while scrolling).
    """
    th = "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
    trs = "".join(f"<tr>{_row(r, row_headers)}</tr>" for r in rows)
    return _wrapped(f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>")


def key_value_html(pairs: list[tuple[str, str]]) -> str:
    """A two-column table of named values, the names as row headers: no column header to leave empty."""
    trs = "".join(f"<tr>{_row(list(kv), True)}</tr>" for kv in pairs)
    return _wrapped(f'<table class="kv"><tbody>{trs}</tbody></table>')


def _row(cells: list[str], row_header: bool) -> str:
    tds = "".join(f"<td>{escape(c)}</td>" for c in cells[1 if row_header else 0 :])
    return f'<th scope="row">{escape(cells[0])}</th>{tds}' if row_header else tds


def _wrapped(table: str) -> str:
    return f'<div class="table-wrap">{table}</div>'


def legend_html(class_names: list[str]) -> str:
    """Swatches with names: the colour of each foreground class (reference and prediction panels; background is
    left as the image) and of each kind of error (errors panel)."""
    colours = class_colours(len(class_names))
    classes = [(name, tuple(int(v) for v in rgb)) for name, rgb in zip(class_names, colours, strict=True)][1:]
    return _swatches("Reference and prediction", classes) + _swatches("Errors", list(ERROR_COLOURS.items()))


def _swatches(title: str, items: list[tuple[str, tuple[int, ...]]]) -> str:
    lis = "".join(
        f'<li><span class="swatch" style="background:rgb({r},{g},{b})"></span>{escape(name)}</li>'
        for name, (r, g, b) in items
    )
    return f'<div class="legend"><span>{escape(title)}:</span><ul>{lis}</ul></div>'


def example_html(ex: Example, *, quality: int = JPEG_QUALITY) -> str:
    """One example as a figure: its panels side by side (two by two on a narrow screen), each captioned."""
    cells = []
    for key in (k for k in PANEL_ORDER if k in ex.panels):
        h, w = ex.panels[key].shape[:2]
        src = data_uri(ex.panels[key], quality=quality)
        img = f'<img alt="{escape(ex.name)}: {key}" width="{w}" height="{h}" src="{src}">'
        cells.append(f'<figure class="panel">{img}<figcaption>{key}</figcaption></figure>')
    caption = f"<figcaption>{escape(ex.name)} — Dice {ex.score:.4f}</figcaption>"
    return f'<figure class="example">{caption}<div class="panels">{"".join(cells)}</div></figure>'


def render_html(
    summary: dict,
    names: list[str],
    fg: np.ndarray,
    histogram_svg: str,
    examples: dict[str, list[Example]],
    *,
    jpeg_quality: int = JPEG_QUALITY,
    links: list[tuple[str, str]] | None = None,
) -> str:
    """One self-contained HTML page: the histogram inline as SVG, example panels as data URIs (JPEG or PNG); ``links``:
    (relative path, text) of other pages of the report, listed under the headline."""
    parts = ["<h1>Segmentation report</h1>", key_value_html(_headline(summary))]
    parts += [f'<p>See also: <a href="{escape(href)}">{escape(text)}</a></p>' for href, text in links or []]
    head = ["class", *(t for t, _ in _CLASS_COLUMNS)]
    parts += ["<h2>Per class</h2>", table_html(head, _class_rows(summary), row_headers=True)]
    parts += ["<h2>Foreground Dice per image</h2>", f"<figure>{histogram_svg}</figure>"]
    for title, exs in examples.items():
        if not exs:
            continue
        parts += [f"<h2>{escape(title.capitalize())} images</h2>", legend_html(summary["class_names"])]
        parts += [example_html(ex, quality=jpeg_quality) for ex in exs]
    lowest = [[n, f"{d:.4f}"] for n, d in _lowest(names, fg)]
    parts += ["<h2>Lowest-scoring images</h2>", table_html(["image", "foreground Dice"], lowest, row_headers=True)]
    return html_page("Segmentation report", parts)


# Wide tables scroll inside .table-wrap; its backgrounds draw a shadow at an edge only while more table lies beyond
# it ("local" gradients cover the shadows when scrolled to that edge).
STYLE = (
    "body{font-family:sans-serif;line-height:1.35;max-width:1100px;margin:2em auto;padding:0 1em;"
    "overflow-wrap:break-word}"
    ".table-wrap{max-width:100%;overflow-x:auto;margin:1em 0;background:"
    "linear-gradient(to right,#fff 40%,#fff0) left/2em 100% no-repeat local,"
    "linear-gradient(to left,#fff 40%,#fff0) right/2em 100% no-repeat local,"
    "radial-gradient(farthest-side at 0 50%,#0003,#0000) left/.7em 100% no-repeat scroll,"
    "radial-gradient(farthest-side at 100% 50%,#0003,#0000) right/.7em 100% no-repeat scroll}"
    "table{border-collapse:collapse;font-size:.9em}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
    "thead th,th[scope=row]{background:#f4f4f4}th[scope=row]{position:sticky;left:0}.kv td{overflow-wrap:anywhere}"
    "figure{margin:1em 0}img,svg{max-width:100%;height:auto}"
    ".example>figcaption{font-weight:bold;margin-bottom:.3em}"
    ".panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,140px),1fr));gap:6px}"
    ".panel{margin:0}.panel img{display:block;width:100%}.panel figcaption{font-size:.9em;color:#333}"
    ".legend{display:flex;flex-wrap:wrap;align-items:baseline;gap:.2em .8em;margin:.4em 0}"
    ".legend ul{display:flex;flex-wrap:wrap;gap:.2em 1em;list-style:none;margin:0;padding:0}"
    ".swatch{display:inline-block;width:1em;height:1em;margin-right:.35em;vertical-align:-.15em;"
    "border:1px solid #0005;print-color-adjust:exact;-webkit-print-color-adjust:exact}"
)


def html_page(title: str, parts: list[str]) -> str:
    """A complete HTML5 document around ``parts`` (already-escaped HTML fragments), laid out for any screen width."""
    meta = '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
    head = f"<head>{meta}<title>{escape(title)}</title><style>{STYLE}</style></head>"
    return f'<!DOCTYPE html>\n<html lang="en">{head}\n<body>\n' + "\n".join(parts) + "\n</body></html>\n"
