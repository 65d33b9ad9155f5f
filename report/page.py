"""`report`'s web page: index.html, one file with its styles, script and figures inline, so that it opens from
disk and publishes as a static site with no network. It renders the Markdown the report wrote (GitHub's
dialect, as the .md files read on GitHub) with every table sortable by any column."""

from __future__ import annotations

import base64
import datetime
import html
import io
import re
import subprocess
from pathlib import Path

from markdown_it import MarkdownIt
from PIL import Image

from harness.suite import Suite

# The verdict first, then the per-dataset tables, then the rest; a table file not named here comes after them.
TABLES = (
    "overall.md",
    "leaderboard.md",
    "efficiency.md",
    "reproduction.md",
    "dynonet-audit.md",
    "earlier-recipes.md",
)
MEDIA = {".svg": "image/svg+xml", ".png": "image/png"}
SHORT = 40  # characters of a table cell kept on one line (values, names; prose wraps)
WIDE_INCHES = 9  # a figure wider than this as drawn gets a row of its own, the others share rows
DEFAULT_DPI = 100  # a PNG that does not say its resolution: matplotlib's default figure.dpi
# A figure's kind is its file name's first word; known kinds come first, in this order, under these names
KINDS = {
    "cd": "Critical-difference diagram",
    "pareto": "Pareto fronts",
    "forecast": "Forecasts",
    "curves": "Learning curves",
    "gates": "DynoNet's gates",
}

MARKDOWN = MarkdownIt("commonmark").enable("table")  # CommonMark with pipe tables: GitHub's dialect
MARKDOWN.add_render_rule("table_open", lambda *_: '<div class="scroll"><table>\n')
MARKDOWN.add_render_rule("table_close", lambda *_: "</table></div>\n")

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0 auto; padding: 1.5rem 2rem 4rem; max-width: 1800px; }
h1 { margin-bottom: .2rem; }
section { scroll-margin-top: 3rem; }  /* a link's target clears the sticky links */
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; margin-top: 2.5rem; }
h3 { font-size: 1.2rem; } h4 { font-size: 1.05rem; } h5, h6 { font-size: 1rem; }
.meta { color: #57606a; margin-top: 0; }
nav { position: sticky; top: 0; background: #fff; padding: .5rem 0; border-bottom: 1px solid #d0d7de;
      z-index: 2; }
nav a { margin-right: 1.2rem; }
code { background: #f6f8fa; padding: .1em .3em; border-radius: 4px; font-size: 90%; }
.scroll { overflow-x: auto; margin: .8rem 0; }
td.short { white-space: nowrap; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
tbody tr:nth-child(even) { background: #f6f8fa; }
th { background: #eaeef2; cursor: pointer; user-select: none; white-space: nowrap; }
th::after { content: " \\2195"; color: #8c959f; }
th[aria-sort=ascending]::after { content: " \\25B2"; color: #1f2328; }
th[aria-sort=descending]::after { content: " \\25BC"; color: #1f2328; }
.figures { display: grid; gap: 1rem;
           grid-template-columns: repeat(auto-fill, minmax(min(100%, 560px), 1fr)); }
figure { margin: 0; border: 1px solid #d0d7de; padding: .5rem; background: #fff; }
figure img { display: block; width: 100%; height: auto; }
figure.wide { grid-column: 1 / -1; }
figure.wide img { width: auto; max-width: 100%; }
figcaption { color: #57606a; font-size: 85%; }
summary { font-size: 1.15rem; font-weight: 600; margin: 1rem 0 .5rem; cursor: pointer; }
"""

# A click on a header sorts its table's rows by that column, again reverses. A column is numeric when most of
# its cells start with a number ("0.372 ± 0.001", "<u>0.380</u>", "64,704", "± 0.002", "-1.2e-05"); its
# other cells ("pending", "–") go last either way.
SCRIPT = r"""
const NUMBER = /^±?\s*[+\-\u2212]?(\d[\d,]*)?\.?\d+(e[+\-\u2212]?\d+)?/i;
function number(cell) {
  const match = cell.textContent.trim().match(NUMBER);
  return match ? parseFloat(match[0].replace(/[±\s,]/g, "").replace(/\u2212/g, "-")) : null;
}
function sortBy(table, th) {
  const column = th.cellIndex, body = table.tBodies[0], rows = [...body.rows];
  const numbers = rows.map(row => number(row.cells[column]));
  const found = numbers.filter(n => n !== null).length;
  const numeric = found > 0 && 2 * found >= rows.length;
  const keys = numeric ? numbers : rows.map(row => row.cells[column].textContent.trim());
  const direction = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
  for (const other of th.parentNode.cells) other.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", direction === 1 ? "ascending" : "descending");
  const order = rows.map((row, i) => ({row, key: keys[i]}));
  order.sort((a, b) => (a.key === null || b.key === null)
    ? (a.key === null) - (b.key === null)
    : direction * (numeric ? a.key - b.key : a.key.localeCompare(b.key, undefined, {numeric: true})));
  body.append(...order.map(o => o.row));
}
for (const table of document.querySelectorAll("table")) {
  if (!table.tHead || !table.tBodies.length) continue;
  for (const th of table.tHead.rows[0].cells) {
    th.tabIndex = 0;
    th.title = "sort by this column (again: reverse)";
    th.addEventListener("click", () => sortBy(table, th));
    th.addEventListener("keydown", e => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th); }
    });
  }
}
"""


def write_page(suite: Suite, out_dir: Path, written: list[Path]) -> Path:
    """index.html in `out_dir` from the tables and figures this report wrote (not stale files of an earlier
    report in the same folder)."""
    texts = {path.name: path.read_text() for path in written if path.suffix == ".md"}
    if "overall.md" in texts and "leaderboard.md" in texts:  # past one dataset the leaderboard leads with it
        verdict = texts["overall.md"].split("\n\n", 1)[1]
        texts["leaderboard.md"] = texts["leaderboard.md"].replace(verdict, "", 1)
    names = sorted(texts, key=lambda name: TABLES.index(name) if name in TABLES else len(TABLES))
    sections = [(Path(name).stem, texts[name]) for name in names]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = (
        f"Protocol <code>{html.escape(suite.protocol)}</code>. Generated by <code>python run_suite.py report "
        f"{html.escape(str(suite.path))}</code> at commit {commit()} on {when}."
    )
    page = out_dir / "index.html"
    page.write_text(page_html(suite.name, meta, sections, [p for p in written if p.suffix in MEDIA]))
    return page


def page_html(title: str, meta: str, sections: list[tuple[str, str]], figures: list[Path]) -> str:
    """The page: `meta` (HTML) under the title, each (id, Markdown) section, then the figures by kind."""
    body = [render(markdown, anchor) for anchor, markdown in sections]
    links = [(anchor, heading(markdown, title)) for anchor, markdown in sections]
    if figures:
        body.append(figure_section(figures))
        links.append(("figures", "figures"))
    nav = " ".join(f'<a href="#{anchor}">{html.escape(label)}</a>' for anchor, label in links)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}: leaderboard</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">{meta}</p>
<nav>{nav}</nav>
{"".join(body)}
<script>{SCRIPT}</script>
</body>
</html>
"""


def render(markdown: str, anchor: str) -> str:
    """A section of the page: its Markdown's headings one level down (the page's title is the only h1)."""
    tokens = MARKDOWN.parse(markdown)
    for i, token in enumerate(tokens):
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
        elif token.type == "td_open" and len(tokens[i + 1].content) <= SHORT:  # a value, a name: one line
            token.attrJoin("class", "short")
    text = MARKDOWN.renderer.render(tokens, MARKDOWN.options, {})
    return f'<section id="{html.escape(anchor)}">\n{text.replace(" ± ", "&nbsp;±&nbsp;")}</section>\n'


def heading(markdown: str, title: str) -> str:
    """A section's name in the page's links: its first heading without the suite's name."""
    first = markdown.lstrip().splitlines()[0].lstrip("#").strip()
    return first.removeprefix(f"{title}: ")


def figure_section(figures: list[Path]) -> str:
    """Every figure once (SVG where there is one: vector, and smaller in total than the PNGs on ETTh1),
    grouped by kind, each kind's in the order the report wrote them, as data: URIs (each image isolated from
    the page and the others: every matplotlib SVG has ids such as figure_1 and DejaVuSans-10, which would
    clash inline)."""
    chosen: dict[Path, Path] = {}
    for path in figures:
        base = path.with_suffix("")
        if base not in chosen or path.suffix == ".svg":
            chosen[base] = path
    kinds: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for path in chosen.values():
        kinds.setdefault(path.stem.split("-")[0], []).append(path)
    groups = []
    for kind, paths in kinds.items():
        if not paths:
            continue
        items = "".join(figure(path) for path in paths)
        label = html.escape(f"{KINDS.get(kind, kind)} ({len(paths)})")
        groups.append(
            f'<details open><summary>{label}</summary><div class="figures">\n{items}</div></details>\n'
        )
    return f'<section id="figures">\n<h2>Figures</h2>\n{"".join(groups)}</section>\n'


def figure(path: Path) -> str:
    """One figure, inline; one wider than WIDE_INCHES as drawn (a multi-panel forecast) spans the page."""
    data = path.read_bytes()
    if path.suffix == ".svg":
        width = re.search(rb'<svg[^>]*\swidth="([\d.]+)pt"', data)
        inches = float(width.group(1)) / 72 if width else 0.0
    else:
        with Image.open(io.BytesIO(data)) as image:
            inches = image.width / image.info.get("dpi", (DEFAULT_DPI,))[0]
    wide = ' class="wide"' if inches > WIDE_INCHES else ""
    return (
        f'<figure{wide}><img alt="{html.escape(path.stem)}" src="data:{MEDIA[path.suffix]};base64,'
        f'{base64.b64encode(data).decode()}"><figcaption>{html.escape(path.name)}</figcaption></figure>\n'
    )


def commit() -> str:
    """The checkout's commit, and whether its files differ from it: what regenerates the page."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        head, changed = (
            git("rev-parse", "--short", "HEAD"),
            git("status", "--porcelain", "--untracked-files=no"),
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"<code>{head}</code>" + (" (with uncommitted changes)" if changed else "")
