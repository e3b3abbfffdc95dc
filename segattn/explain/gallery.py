"""The explain folder: ``maps/`` (.npy, float16), ``figures/`` (PNG overlays), ``explain.json`` and ``explain.html``.

    maps/<image>/probabilities.npy                 (K, H, W) class probabilities (K = 1: foreground, binary)
    maps/<image>/stage0_post_spatial-gate.npy      (H, W) a spatial map, blended over tiles
    maps/<image>/stage0_post_channel-gate.npy      (C,) a channel gate, mean over tiles
    maps/<image>/stage1_post_attention_p3.npy      (h, w) point 3's map over the tile that holds it (its box is in
                                                   explain.json, as x0, y0, x1, y1)
    figures/<image>/prediction.png, figures/<image>/<the same names>.png    the maps drawn over the image

``explain.html`` is the Dice report's page (same style, same self-contained layout; panels embedded as JPEG with
full colour resolution, as the report's scanned-page panels are): a legend, the channel gates of every image as one
heatmap per gate with the channels that move most between images marked, then per image its picture and
prediction (with the query points) and one row per decoder stage that carries attention. Images are added one at a
time and only small panels are kept, so a folder of any length fits in memory. As the Dice report, an existing
gallery is replaced only with ``overwrite``, and then only the files its ``explain.json`` listed.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from segattn.files import write_bytes
from segattn.reports.render import html_page, jpeg_bytes, key_value_html, table_html
from segattn.reports.writer import prepare_out_dir

from . import draw
from .explainer import AttentionMaps, Explanation
from .strips import heatmap_svg, moving_channels, scale_svg, strip_svg

MARKERS = ("explain.json", "explain.html")  # the JSON listing the files comes first
FORMAT = "segattn-explain/1"
PNG_LEVEL = 3
SLOTS = {"post": "on the block output", "pre": "on the block input", "skip": "gating the skip connection"}
NOTES = (
    (
        "spatial maps",
        "the gate per position as the module computed it, blended across tiles with the prediction's "
        "Gaussian weights; each drawn stretched to its own range (given under it)",
    ),
    (
        "point maps",
        "self-attention rows (softmax over all positions) and PSA collect / distribute weights of each "
        "query point; each comes from the one tile that holds the point (the tile whose centre is nearest) and covers "
        "only that tile",
    ),
    ("channel gates", "the weight of every channel, mean over the image's tiles, on a fixed 0–1 scale"),
    (
        "gather-excite",
        "its gate is per channel and position: the spatial map is its mean over channels, the channel "
        "strip its mean over positions (a global gather has no spatial map)",
    ),
)
_EXTRA_STYLE = (
    "<style>.panels{grid-template-columns:repeat(auto-fill,minmax(min(100%,220px),1fr))}"
    ".strip{margin:.4em 0}.strip svg{display:block;width:100%;max-width:480px}.heatmap svg{max-width:640px}"
    "h3{font-size:1em;margin:1.2em 0 .3em}.note{color:#444;font-size:.9em}</style>"
)


@dataclass
class _Panel:
    caption: str
    uri: str
    width: int
    height: int


@dataclass
class _Row:
    title: str
    panels: list[_Panel] = field(default_factory=list)
    strips: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # (site key, label, weights)
    note: str = ""


@dataclass
class _Card:
    name: str
    summary: str
    top: list[_Panel]
    rows: list[_Row]


def slug(label: str) -> str:
    """A label as part of a file name: ``"spatial gate"`` -> ``spatial-gate``, ``"α"`` -> ``alpha``."""
    return re.sub(r"[^a-z0-9]+", "-", label.replace("α", "alpha").lower()).strip("-") or "map"


class Gallery:
    """Write an explain folder image by image: ``add(explanation)`` ..., then ``finish()``.

    Args:
        out: the folder (created); refused if it already holds a gallery, unless ``overwrite``.
        reads: folders the run reads, by flag (``{"--input": folder}``): ``out`` may not lie inside one.
        source: what was explained (checkpoint, input), shown at the top of the page and stored in the JSON.
        panel_side: largest side of a panel embedded in the page; figure_side: of a PNG in ``figures/``.
        write_files: also the ``maps/`` and ``figures/`` files (False: only the page and ``explain.json``).
    """

    def __init__(
        self,
        out: Path,
        *,
        overwrite: bool = False,
        reads: dict[str, Path | None] | None = None,
        source: dict[str, str] | None = None,
        panel_side: int = 256,
        figure_side: int = 1024,
        title: str = "Attention maps",
        write_files: bool = True,
    ) -> None:
        self.out = prepare_out_dir(Path(out), reads=reads or {}, overwrite=overwrite, markers=MARKERS)
        if not write_files and not any((self.out / "figures").iterdir()):
            (self.out / "figures").rmdir()  # made by prepare_out_dir for the Dice report's figures
        self.source, self.title = dict(source or {}), title
        self.panel_side, self.figure_side, self.write_files = panel_side, figure_side, write_files
        self.files: list[str] = []
        self.cards: list[_Card] = []
        self.records: list[dict] = []
        self.failed: list[tuple[str, str]] = []
        self._stems: set[str] = set()

    # ---- per image ------------------------------------------------------------------------------------------------
    def add(self, ex: Explanation) -> None:
        """Write one image's maps and figures; keep its panels for the page."""
        stem = self._stem(ex.name)
        h, w = ex.pred.shape
        marks = draw.point_marks(ex.points)
        record: dict = {
            "name": ex.name,
            "height": h,
            "width": w,
            "tile": ex.tile,
            "tiles": ex.tiles,
            "maps": f"maps/{stem}" if self.write_files else None,
            "points": [
                {"label": p.label, "kind": p.kind, "x": p.x, "y": p.y, "tile_box": [b[1], b[0], b[3], b[2]]}
                for p, b in zip(ex.points, ex.boxes, strict=True)
            ],
            "attention": [],
        }
        self._npy(f"maps/{stem}/probabilities.npy", ex.probs)
        predicted = draw.prediction(ex.display, ex.pred)
        self._png(f"figures/{stem}/prediction.png", predicted, marks)
        top = [self._panel("image", ex.display), self._panel("prediction and query points", predicted, marks)]
        rows = [self._row(stem, ex, maps, record) for maps in ex.attention]
        tiles = f"{ex.tiles} tile{'s' if ex.tiles != 1 else ''} of {ex.tile}²"
        self.cards.append(_Card(ex.name, f"{w}×{h} px, {tiles}", top, rows))
        self.records.append(record)

    def fail(self, name: str, error: str) -> None:
        """An image that could not be explained: listed on the page and in the JSON."""
        self.failed.append((name, error))

    def _row(self, stem: str, ex: Explanation, maps: AttentionMaps, record: dict) -> _Row:
        fh, fw = maps.feature_size
        title = f"stage {maps.stage} · {maps.name} ({maps.slot}, {SLOTS[maps.slot]}) · {fh}×{fw} per tile"
        if maps.gamma is not None:
            title += f" · γ = {maps.gamma:.4g}"
        row = _Row(title)
        entry: dict = {
            "stage": maps.stage,
            "slot": maps.slot,
            "name": maps.name,
            "feature_size": list(maps.feature_size),
            "gamma": maps.gamma,
            "spatial": {},
            "channel": {},
            "points": {},
        }
        for label, values in maps.spatial.items():
            name = f"{maps.key}_{slug(label)}"
            lo, hi = draw.value_range(values)
            self._npy(f"maps/{stem}/{name}.npy", values)
            picture = draw.overlay(ex.display, values, lo=lo, hi=hi)
            self._png(f"figures/{stem}/{name}.png", picture)
            row.panels.append(self._panel(f"{label}: {lo:.3g} to {hi:.3g}", picture))
            entry["spatial"][label] = {"file": self._npy_name(stem, name), "min": lo, "max": hi}
            entry["spatial"][label]["mean"] = float(values.mean())
        for label, weights in maps.channel.items():
            name = f"{maps.key}_{slug(label)}"
            self._npy(f"maps/{stem}/{name}.npy", weights)
            row.strips.append((maps.key, label, weights))
            entry["channel"][label] = {"file": self._npy_name(stem, name), "channels": len(weights)}
        for label, per_point in maps.points.items():
            files = []
            for i, (p, box, values) in enumerate(zip(ex.points, ex.boxes, per_point, strict=True), start=1):
                name = f"{maps.key}_{slug(label)}_p{i}"
                y0, x0, y1, x1 = box
                lo, hi = draw.value_range(values)
                self._npy(f"maps/{stem}/{name}.npy", values)
                picture = draw.overlay(ex.display[y0:y1, x0:x1], values, lo=lo, hi=hi)
                mark = [(p.y - y0, p.x - x0, p.kind, str(i))]
                self._png(f"figures/{stem}/{name}.png", picture, mark)
                row.panels.append(self._panel(f"{label}, point {i} ({p.kind}): {lo:.3g} to {hi:.3g}", picture, mark))
                files.append(self._npy_name(stem, name))
            entry["points"][label] = files
        if maps.name in ("self_attention", "psa") and not maps.points:
            row.note = "No query points: pass --points x,y or --auto_points 1 or more to see where they look."
        record["attention"].append(entry)
        return row

    # ---- files ----------------------------------------------------------------------------------------------------
    def _stem(self, name: str) -> str:
        parts = [p for p in PurePosixPath(str(name).replace("\\", "/")).with_suffix("").parts if p not in ("", "/")]
        if not parts or ".." in parts:
            raise ValueError(f"image name {name!r} cannot name a folder inside the gallery")
        stem, n = "/".join(parts), 1
        while stem in self._stems:  # plan.png and plan.jpg
            n += 1
            stem = f"{'/'.join(parts)}-{n}"
        self._stems.add(stem)
        return stem

    def _write(self, rel: str, data: bytes) -> None:
        write_bytes(self.out / rel, data, overwrite=True)  # the folder was made ready for this gallery
        self.files.append(rel)

    def _npy_name(self, stem: str, name: str) -> str | None:
        return f"maps/{stem}/{name}.npy" if self.write_files else None

    def _npy(self, rel: str, values: np.ndarray) -> None:
        if not self.write_files:
            return
        buf = io.BytesIO()
        np.save(buf, np.asarray(values, dtype=np.float16))
        self._write(rel, buf.getvalue())

    def _png(self, rel: str, rgb: np.ndarray, marks: list | None = None) -> None:
        if not self.write_files:
            return
        small, scale = draw.shrink(rgb, self.figure_side)
        small = draw.mark_points(small, marks, scale=scale) if marks else small
        # fast PNG compression: heat over a scanned page hardly compresses, and level 9 took 0.12 s a figure
        ok, buf = cv2.imencode(".png", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
        if not ok:
            raise RuntimeError(f"PNG encoding failed for {rel}")
        self._write(rel, buf.tobytes())

    def _panel(self, caption: str, rgb: np.ndarray, marks: list | None = None) -> _Panel:
        small, scale = draw.shrink(rgb, self.panel_side)
        if marks:
            small = draw.mark_points(small, marks, scale=scale)
        uri = "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(small)).decode("ascii")  # photos of heat
        return _Panel(caption, uri, small.shape[1], small.shape[0])

    @property
    def listed(self) -> list[str]:
        """Every file of the gallery, relative to its folder: what ``explain.json`` lists (after :meth:`finish`)."""
        return [*MARKERS, *self.files]

    # ---- the page and the index -----------------------------------------------------------------------------------
    def finish(self) -> Path:
        """Write ``explain.html`` and ``explain.json`` (which lists every file written); returns the page's path."""
        marked = self._marked()
        parts = [_EXTRA_STYLE, f"<h1>{escape(self.title)}</h1>"]
        overview = [*self.source.items(), ("images", f"{len(self.records)} explained, {len(self.failed)} failed")]
        parts += [key_value_html([*overview, *NOTES]), _legend()]
        if marked:
            parts.append("<h2>Channel gates across images</h2>")
            parts += [self._heatmap(key, label, channels) for (key, label), channels in marked.items()]
        for card in self.cards:
            parts.append(self._card_html(card, marked))
        if self.failed:
            rows = [[n, e] for n, e in self.failed]
            parts += ["<h2>Images that failed</h2>", table_html(["image", "error"], rows, row_headers=True)]
        if not self.cards and not self.failed:
            parts.append("<p>No images were explained.</p>")
        html = html_page(self.title, parts)
        write_bytes(self.out / MARKERS[1], html.encode("utf-8"), overwrite=True)
        index = {
            "format": FORMAT,
            "source": self.source,
            "notes": dict(NOTES),
            "images": self.records,
            "failed": [{"name": n, "error": e} for n, e in self.failed],
            "files": self.listed,
        }
        write_bytes(self.out / MARKERS[0], (json.dumps(index, indent=2) + "\n").encode("utf-8"), overwrite=True)
        return self.out / MARKERS[1]

    def _gates(self) -> dict[tuple[str, str], list[tuple[str, np.ndarray]]]:
        gates: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = {}
        for card in self.cards:
            for row in card.rows:
                for key, label, weights in row.strips:
                    gates.setdefault((key, label), []).append((card.name, weights))
        return gates

    def _marked(self) -> dict[tuple[str, str], tuple[list[str], np.ndarray, list[int]]]:
        out = {}
        for gate, per_image in self._gates().items():
            names = [n for n, _ in per_image]
            weights = np.stack([w for _, w in per_image])  # (images, C)
            out[gate] = (names, weights, moving_channels(weights))
        return out

    def _heatmap(self, key: str, label: str, channels: tuple[list[str], np.ndarray, list[int]]) -> str:
        names, weights, moving = channels
        title = f"{key.replace('_', ' ')} · {label}: {weights.shape[1]} channels × {len(names)} images"
        svg = heatmap_svg(weights, names, moving, title=title)
        if moving:
            spans = ", ".join(f"{c} ({weights[:, c].min():.2f}–{weights[:, c].max():.2f})" for c in moving)
            text = f"marked, the channels that move most between images: {spans}"
        else:
            text = "one image, or no channel moves: nothing marked"
        return f'<figure class="strip heatmap">{svg}<figcaption>{escape(title)}; {escape(text)}</figcaption></figure>'

    def _card_html(self, card: _Card, marked: dict) -> str:
        parts = [f"<h2>{escape(card.name)}</h2>", f'<p class="note">{escape(card.summary)}</p>', _panels(card.top)]
        for row in card.rows:
            parts.append(f"<h3>{escape(row.title)}</h3>")
            if row.panels:
                parts.append(_panels(row.panels))
            for key, label, weights in row.strips:
                moving = marked.get((key, label), ([], None, []))[2]
                svg = strip_svg(weights, moving, title=f"{card.name}: {label}, {len(weights)} channels")
                caption = f"{label}: {len(weights)} channels, {weights.min():.2f} to {weights.max():.2f}"
                parts.append(f'<figure class="strip">{svg}<figcaption>{escape(caption)}</figcaption></figure>')
            if row.note:
                parts.append(f'<p class="note">{escape(row.note)}</p>')
        return f"<section>{''.join(parts)}</section>"


def _panels(panels: list[_Panel]) -> str:
    cells = [
        f'<figure class="panel"><img alt="{escape(p.caption)}" width="{p.width}" height="{p.height}" src="{p.uri}">'
        f"<figcaption>{escape(p.caption)}</figcaption></figure>"
        for p in panels
    ]
    return f'<div class="panels">{"".join(cells)}</div>'


def _legend() -> str:
    kinds = "".join(
        f'<li><span class="swatch" style="background:rgb({r},{g},{b})"></span>{escape(kind)}</li>'
        for kind, (r, g, b) in draw.POINT_COLOURS.items()
    )
    scale = f'<div class="legend"><span>Maps and channel gates:</span>{scale_svg()}</div>'
    return scale + f'<div class="legend"><span>Query points (numbered rings):</span><ul>{kinds}</ul></div>'
