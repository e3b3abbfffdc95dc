// Open report pages in headless Chromium at several widths, screenshot them and measure their layout.
//
// Driven by report_browser.py: argv[2] is JSON {pages: [{name, url, legend}], widths: [px], mobile: bool, shots: dir}.
// Prints one JSON list, one entry per (page, width): {page, width, screenshot, checks: {name: {ok, detail}}}. The
// checks are computed in the page; report_browser.py decides what a failure means. Needs puppeteer-core and
// @sparticuz/chromium (whose Chromium needs no separate download), found through NODE_PATH.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const chromium = require("@sparticuz/chromium");
const puppeteer = require("puppeteer-core");

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
];

// Runs inside the page: every check as {ok, detail}. `legend`: whether the page must show colour swatches.
function measure(legend) {
  const vw = window.innerWidth;
  const inside = (el) => {
    const r = el.getBoundingClientRect();
    return r.left >= -0.5 && r.right <= vw + 0.5 && r.width <= vw + 0.5;
  };
  const name = (el) => el.getAttribute("alt") || el.getAttribute("aria-label") || el.tagName.toLowerCase();
  const checks = {};
  const sw = document.documentElement.scrollWidth;
  checks["page fits"] = { ok: sw <= vw, detail: `scrollWidth ${sw}, innerWidth ${vw}` };
  const meta = document.querySelector('meta[name="viewport"]');
  checks["viewport meta"] = { ok: !!meta, detail: meta ? meta.content : "missing" };

  const imgs = [...document.images];
  const badImgs = imgs.filter((im) => !(im.complete && im.naturalWidth > 0) || !inside(im));
  checks["images"] = {
    ok: badImgs.length === 0,
    detail: `${imgs.length} images; undecoded or outside: ${badImgs.map(name).join(", ") || "none"}`,
  };
  const svgs = [...document.querySelectorAll("body svg")].filter((s) => !s.parentElement.closest("svg"));
  const badSvgs = svgs.filter((s) => !inside(s));
  checks["svg"] = {
    ok: badSvgs.length === 0,
    detail: `${svgs.length} charts; outside: ${badSvgs.map(name).join(", ") || "none"}`,
  };

  const tables = [...document.querySelectorAll("table")];
  const badTables = tables.filter((t) => {
    const wrap = t.parentElement;
    const overflow = getComputedStyle(wrap).overflowX;
    return wrap === document.body || !["auto", "scroll"].includes(overflow) || !inside(wrap);
  });
  checks["tables"] = {
    ok: tables.length > 0 && badTables.length === 0,
    detail: `${tables.length} tables, widest ${Math.max(...tables.map((t) => t.scrollWidth))}px; ` +
      `not in a scrolling wrapper inside the viewport: ${badTables.length}`,
  };
  const emptyTh = [...document.querySelectorAll("th")].filter((th) => th.textContent.trim() === "");
  checks["no empty th"] = { ok: emptyTh.length === 0, detail: `${emptyTh.length} empty` };

  // nothing empty: every figure shows a picture or text, every panel grid and section holds a picture, and every
  // heading is followed by something other than the next heading
  const drawn = (el) => el.querySelector("img, svg") !== null;
  const emptyFigures = [...document.querySelectorAll("figure")].filter((f) => !drawn(f) && !f.textContent.trim());
  const emptyGrids = [...document.querySelectorAll(".panels, section")].filter((g) => !drawn(g));
  const bareHeadings = [...document.querySelectorAll("h2, h3")].filter((h) => {
    const next = h.nextElementSibling;
    return !next || /^H[1-3]$/.test(next.tagName);
  });
  checks["nothing empty"] = {
    ok: emptyFigures.length + emptyGrids.length + bareHeadings.length === 0,
    detail: `${document.querySelectorAll("figure").length} figures; empty figures ${emptyFigures.length}, ` +
      `panel grids or sections without a picture ${emptyGrids.length}, headings with nothing under them ` +
      `${bareHeadings.map((h) => h.textContent.trim()).join(" | ") || "none"}`,
  };

  if (legend) {
    const swatches = [...document.querySelectorAll(".swatch")].filter((s) => {
      const r = s.getBoundingClientRect();
      const bg = getComputedStyle(s).backgroundColor;
      const label = (s.parentElement.textContent || "").trim();
      return r.width > 0 && r.height > 0 && bg !== "rgba(0, 0, 0, 0)" && label.length > 0;
    });
    const colours = new Set(swatches.map((s) => getComputedStyle(s).backgroundColor));
    checks["legend"] = {
      ok: swatches.length > 0,
      detail: `${swatches.length} drawn swatches, ${colours.size} colours`,
    };
  }
  return checks;
}

async function main() {
  const job = JSON.parse(process.argv[2]);
  fs.mkdirSync(job.shots, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "report-browser-profile-"));
  const browser = await puppeteer.launch({
    executablePath: await chromium.executablePath(),
    headless: true,
    args: [...FLAGS, `--user-data-dir=${profile}`],
  });
  const results = [];
  try {
    for (const page of job.pages) {
      for (const width of job.widths) {
        const tab = await browser.newPage();
        // mobile: a phone's viewport (2x pixels, touch), where the page's viewport meta decides the layout width
        const mobile = !!job.mobile;
        const scale = mobile ? 2 : 1;
        await tab.setViewport({ width, height: 900, deviceScaleFactor: scale, isMobile: mobile, hasTouch: mobile });
        await tab.goto(page.url, { waitUntil: "load" });
        const checks = await tab.evaluate(measure, page.legend); // before the screenshot, which resizes the view
        const screenshot = path.join(job.shots, `${page.name}_${width}.png`);
        await tab.screenshot({ path: screenshot, fullPage: true });
        results.push({ page: page.name, width, screenshot, checks });
        await tab.close();
      }
    }
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(JSON.stringify(results));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
