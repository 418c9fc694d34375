"""The audit's HTML page: one file, thumbnails with the flagged boxes drawn, no outside references.

Thumbnails are decoded at reduced size (JPEG draft mode), turned upright by their EXIF
orientation, and embedded as ``data:`` URIs, so the page opens from disk, offline.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from svmlp._files import LinkGuard, NotRegularFileError, open_regular_file, write_atomic
from svmlp._pool import map_threads
from svmlp.audit._present import COLOURS, GREY, count_rows, header, location, rank, score_key, worst_first
from svmlp.audit.issues import SEVERITIES, Issue

if TYPE_CHECKING:
    from svmlp.audit.report import AuditReport
from svmlp.audit.scan import quiet_images

__all__ = ["render_html"]


# -- HTML: thumbnails -----------------------------------------------------------------------------


@dataclass
class _Tile:
    """A card's picture: a JPEG thumbnail as a ``data:`` URI, or why there is none."""

    width: int
    height: int
    uri: str = ""
    problem: str = ""
    #: the larger view a click opens (boxes drawn at that resolution), and its size
    zoom_uri: str = ""
    zoom_size: tuple[int, int] = (0, 0)


def _fit(w: float, h: float, thumb: int) -> tuple[int, int]:
    """The size with longest side ``thumb`` and the aspect of ``w``×``h`` (a square when unknown)."""
    if w <= 0 or h <= 0:
        return thumb, thumb
    k = thumb / max(w, h)
    return max(1, round(w * k)), max(1, round(h * k))


def _decode(path: Path, thumb: int) -> tuple[Any, tuple[float, float]]:
    """The image upright, decoded at a reduced size where JPEG allows, and its full upright size."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    # a regular file only, opened without blocking: a FIFO must not hang the page, /dev/zero fill it
    with open_regular_file(path) as fh:
        try:
            im = Image.open(fh)
        except UnidentifiedImageError:  # its message names the file object, not the file
            raise ValueError("not an image Pillow can read") from None
        with im:
            w0 = im.width
            im.draft(None, (thumb, thumb))  # JPEG decodes at 1/2, 1/4 or 1/8 scale: many times faster
            scale = im.width / w0
            upright = ImageOps.exif_transpose(im).convert("RGB")
    return upright, (upright.width / scale, upright.height / scale)


def _jpeg(picture: Any) -> str:
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _tile(
    report: AuditReport, row: int, issues: list[Issue], thumb: int, guard: LinkGuard, zoom: int = 0
) -> _Tile:
    im, path = report.dataset.images, report.dataset.image_path(row)
    aw, ah = int(im.width[row]), int(im.height[row])
    try:
        if path is None:
            raise LookupError(f"no image folder is known for split {im.split[row]}")
        if guard.outside(path) is not None:  # a thumbnail is a copy: none of a file out of the data set
            return _Tile(*_fit(aw, ah, thumb), problem="the image is a link out of the data set; not shown")
        picture, full = _decode(path, max(thumb, zoom))
    except FileNotFoundError:
        return _Tile(*_fit(aw, ah, thumb), problem="image file missing")
    except NotRegularFileError as exc:
        return _Tile(*_fit(aw, ah, thumb), problem=f"the image is {exc.strerror}, not a regular file")
    except Exception as exc:  # one unreadable image becomes a grey tile; it must not lose the page
        return _Tile(*_fit(aw, ah, thumb), problem=f"cannot show the image: {exc}")
    size = _fit(*full, thumb)
    tile = _Tile(*size, uri=_jpeg(_drawn(report, row, issues, picture, size, full, aw, ah)))
    if zoom > thumb:  # the view a click opens: as large as the image, up to ``zoom``, boxes drawn there
        big = _fit(*full, min(zoom, int(max(full))))
        if max(big) > thumb:
            tile.zoom_uri = _jpeg(_drawn(report, row, issues, picture, big, full, aw, ah))
            tile.zoom_size = big
    return tile


def _drawn(
    report: AuditReport,
    row: int,
    issues: list[Issue],
    picture: Any,
    size: tuple[int, int],
    full: tuple[float, float],
    aw: int,
    ah: int,
) -> Any:
    """``picture`` at ``size`` with the image's boxes drawn (flagged ones strongly)."""
    picture = picture.resize(size, reducing_gap=2.0)
    # boxes are in the annotations' frame (width×height as labelled): scale each axis from it
    sx, sy = (size[0] / aw, size[1] / ah) if aw > 0 and ah > 0 else (size[0] / full[0], size[1] / full[1])
    with np.errstate(all="ignore"):  # a hostile box (1e308) overflows when scaled; _rect clips it
        _draw_boxes(report, row, issues, picture, sx, sy)
    return picture


_local = threading.local()


def _font() -> Any:
    from PIL import ImageFont

    # one font per thread: FreeType faces are not safe to share between threads
    if not hasattr(_local, "font"):
        _local.font = ImageFont.load_default(size=12)
    return _local.font


def _rect(xyxy: np.ndarray, sx: float, sy: float, lim: float) -> tuple[float, ...] | None:
    """A box scaled to the thumbnail, corners ordered and clipped near it; None if not finite."""
    if not np.all(np.isfinite(xyxy)):
        return None
    x0, x1 = sorted(float(np.clip(v * sx, -lim, 2 * lim)) for v in xyxy[::2])
    y0, y1 = sorted(float(np.clip(v * sy, -lim, 2 * lim)) for v in xyxy[1::2])
    return (x0, y0, x1, y1)


def _draw_boxes(
    report: AuditReport, row: int, issues: list[Issue], picture: Any, sx: float, sy: float
) -> None:
    """Every box of the image faintly; boxes involved in an issue strongly, with the check named;
    boxes an issue proposes (a missed object, where a misplaced box belongs) dashed."""
    from PIL import Image, ImageDraw

    ds, lim = report.dataset, float(max(picture.size))
    lo, hi = int(ds.offsets[row]), int(ds.offsets[row + 1])
    flagged: dict[int, list[Issue]] = {}
    for issue in sorted(issues, key=lambda i: rank(i.severity)):
        for r in (issue.box, *issue.related):
            if lo <= r < hi:
                flagged.setdefault(r, []).append(issue)
    overlay = Image.new("RGBA", picture.size)
    draw, taken = ImageDraw.Draw(overlay), [(0.0, 0.0, *picture.size)]  # the frame, then labels
    for r in [r for r in range(lo, hi) if r not in flagged] + list(flagged):  # flagged on top
        rect = _rect(ds.boxes.xyxy[r], sx, sy, lim)
        if rect is not None:
            _draw_box(draw, rect, r, flagged.get(r, []), taken)
    for issue in issues:
        rect = None if issue.bbox is None else _rect(np.asarray(issue.bbox, float), sx, sy, lim)
        if rect is not None:
            colour = COLOURS.get(issue.severity, GREY)
            _dashed(draw, rect, (*colour, 255))
            if issue.box < 0:  # a box-level issue is already named on its own box
                _label(draw, rect, issue.check, colour, taken)
    picture.paste(Image.alpha_composite(picture.convert("RGBA"), overlay).convert("RGB"))


def _draw_box(
    draw: Any, rect: tuple[float, ...], row: int, issues: list[Issue], taken: list[tuple[float, ...]]
) -> None:
    if not issues:
        draw.rectangle(rect, outline=(255, 255, 255, 150), width=1)
        return
    own = [i for i in issues if i.box == row]  # the box an issue is about, not a related one
    colour = COLOURS.get((own or issues)[0].severity, GREY)
    draw.rectangle(rect, outline=(*colour, 255 if own else 190), width=3 if own else 1)
    if own:
        _label(draw, rect, ", ".join(dict.fromkeys(i.check for i in own)), colour, taken)


def _dashed(draw: Any, rect: tuple[float, ...], colour: tuple[int, ...], dash: float = 6.0) -> None:
    """Pillow has no dashed outline; dashes tell a proposed box from a labelled one."""
    x0, y0, x1, y1 = rect
    for (ax, ay), (bx, by) in (
        ((x0, y0), (x1, y0)),
        ((x1, y0), (x1, y1)),
        ((x1, y1), (x0, y1)),
        ((x0, y1), (x0, y0)),
    ):
        n = max(1, int(math.hypot(bx - ax, by - ay) // dash))
        for k in range(0, n, 2):
            t0, t1 = k / n, (k + 1) / n
            draw.line(
                (ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1),
                fill=colour,
                width=2,
            )


def _label(
    draw: Any, rect: tuple[float, ...], text: str, colour: tuple[int, ...], taken: list[tuple[float, ...]]
) -> None:
    """The check's name on a box: above it where there is room, moved down past labels already
    drawn (``taken[0]`` is the picture's frame, the rest are those labels)."""
    font, (_, _, fw, fh) = _font(), taken[0]
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 6, bottom - top + 4
    x = min(max(rect[0], 0), max(fw - w, 0))
    y = rect[1] - h if rect[1] - h >= 0 else min(max(rect[1], 0), max(fh - h, 0))
    hit = lambda y: any(x < b[2] and b[0] < x + w and y < b[3] and b[1] < y + h for b in taken[1:])  # noqa: E731
    for _ in range(4):  # a few steps only: a crowded picture may keep some overlap
        if not hit(y) or y + 2 * h > fh:
            break
        y += h
    taken.append((x, y, x + w, y + h))
    draw.rectangle((x, y, x + w, y + h), fill=(*colour, 230))
    draw.text((x + 3 - left, y + 2 - top), text, font=font, fill=(255, 255, 255, 255))


# -- HTML: the page -------------------------------------------------------------------------------

_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#1f2328;background:#f6f8fa}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;background:#fff}td,th{padding:2px 10px;border:1px solid #d0d7de;text-align:right}
td:first-child,th:first-child{text-align:left;font-family:monospace}td.zero{color:#aaa}
.error{color:#b91c1c}.warning{color:#b45309}.info{color:#1d4ed8}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(THUMBpx,1fr));gap:12px}
.card{background:#fff;border:1px solid #d0d7de;border-top:5px solid #888;padding:8px;overflow-wrap:anywhere}
.card.sev-error{border-top-color:#dc2626}.card.sev-warning{border-top-color:#ea8c00}.card.sev-info{border-top-color:#2563eb}
.card img,.placeholder{display:block;max-width:100%;height:auto}
.placeholder{background:#9ca3af;color:#fff;display:flex;align-items:center;justify-content:center;
text-align:center;padding:8px;box-sizing:border-box;font-weight:bold}
.card h3{font-size:13px;margin:6px 0 2px;font-family:monospace}.files{margin:0;font-size:12px}ul{margin:4px 0;padding-left:18px}
li.off{opacity:.3}#dataset li.off{display:none}.score,.where{color:#57606a}[hidden]{display:none!important}
#filters{margin:10px 0;padding:6px;background:#fff;border:1px solid #d0d7de}
.zoom{display:none;position:fixed;inset:0;background:rgba(0,0,0,.85);z-index:9;overflow:auto;text-align:center}
.zoom:target{display:block}.zoom img{max-width:none;margin:24px auto;display:block}
.zoom .close{color:#fff;position:fixed;top:6px;right:14px;font-size:28px;text-decoration:none}
.pair{display:flex;gap:6px}.pair figure{margin:0;flex:1}.pair figcaption{font-size:11px;color:#57606a}"""

_SCRIPT = """(function () {
  var box = document.getElementById("filters"), pick = document.getElementById("f-check");
  var sev = box.querySelectorAll("input"), cards = document.querySelectorAll(".card");
  function apply() {
    var want = {}, shown = 0;
    sev.forEach(function (s) { want[s.value] = s.checked; });
    document.querySelectorAll("li[data-check]").forEach(function (li) {
      var ok = want[li.dataset.sev] && (!pick.value || pick.value === li.dataset.check);
      li.classList.toggle("off", !ok);
    });
    cards.forEach(function (c) {
      c.hidden = !c.querySelector("li[data-check]:not(.off)");
      if (!c.hidden) shown++;
    });
    document.getElementById("f-count").textContent = shown + " of " + cards.length + " images shown";
  }
  box.hidden = false;
  pick.onchange = apply;
  sev.forEach(function (s) { s.onchange = apply; });
  apply();
})();"""

_esc = html.escape  # quote=True: file names may hold quotes and land in attributes


def _summary_table(report: AuditReport) -> str:
    rows, clean, out = count_rows(report), [], ["<table><tr><th>check</th>"]
    out += [f'<th class="{s}">{s}</th>' for s in SEVERITIES] + ["</tr>"]
    for check, n in rows:
        if not any(n.values()):
            clean.append(check)
            continue
        cells = "".join(f'<td class="{s if n[s] else "zero"}">{n[s]}</td>' for s in SEVERITIES)
        out.append(f"<tr><td>{_esc(check)}</td>{cells}</tr>")
    out.append("</table>")
    if clean:
        out.append(f"<p>No issues: {_esc(', '.join(clean))}.</p>")
    return "\n".join(out)


def _filters(report: AuditReport) -> str:
    checks = sorted({i.check for i in report.issues})
    options = "".join(f'<option value="{_esc(c)}">{_esc(c)}</option>' for c in checks)
    boxes = "".join(
        f'<label class="{s}"><input type="checkbox" value="{s}" checked> {s}</label> ' for s in SEVERITIES
    )
    return (
        f'<div id="filters" hidden>Show <select id="f-check"><option value="">every check</option>'
        f'{options}</select> {boxes}<span id="f-count"></span></div>'
    )


def _name(report: AuditReport, row: int) -> str:
    return f"{report.dataset.images.split[row]}/{report.dataset.images.file_name[row]}"


def _files(report: AuditReport, row: int) -> str:
    """Where an image's labels and pixels are: two images of one file name (in two splits, or
    two folders) are told apart, and the label file is the one to fix."""
    parts = [
        f"{what} <code>{_esc(path)}</code>"
        for what, path in (("labels", report.label_file(row)), ("image", report.shown_image_path(row)))
        if path
    ]
    return f'<p class="files where">{" · ".join(parts)}</p>' if parts else ""


def _issue_item(report: AuditReport, issue: Issue) -> str:
    ds, parts = report.dataset, []
    if issue.box >= 0:
        c = int(ds.boxes.category[issue.box])
        name = ds.categories[c].name if 0 <= c < len(ds.categories) else "?"
        parts.append(f'<span class="where">box id {int(ds.boxes.id[issue.box])} ({_esc(name)})</span>')
    parts.append(_esc(issue.message))
    if issue.other_image >= 0:
        other = _name(report, issue.other_image)
        if label_file := report.label_file(issue.other_image):
            other += f" in {label_file}"
        parts.append(f'<span class="where">(other: {_esc(other)})</span>')
    if issue.score is not None:
        parts.append(f'<span class="score">score {issue.score:.2f}</span>')
    sev = _esc(issue.severity)
    return (
        f'<li data-check="{_esc(issue.check)}" data-sev="{sev}"><b class="{sev}">{sev}</b> '
        f"<code>{_esc(issue.check)}</code> " + " ".join(parts) + "</li>"
    )


def _picture(tile: _Tile, name: str, key: str) -> str:
    """A tile's ``<img>`` (opening its larger view on click, where it has one) or its placeholder."""
    if not tile.uri:
        style = f"width:{tile.width}px;aspect-ratio:{tile.width}/{tile.height}"
        return f'<div class="placeholder" style="{style}">{_esc(tile.problem)}</div>'
    img = f'<img src="{tile.uri}" width="{tile.width}" height="{tile.height}" alt="{name}">'
    if not tile.zoom_uri:
        return img
    w, h = tile.zoom_size
    return (
        f'<a href="#{key}" title="open at {w}×{h}">{img}</a><div class="zoom" id="{key}">'
        f'<a class="close" href="#_" title="close">×</a><img src="{tile.zoom_uri}" width="{w}" '
        f'height="{h}" alt="{name}"></div>'
    )


def _card(
    report: AuditReport, row: int, issues: list[Issue], tile: _Tile, others: dict[int, _Tile] | None = None
) -> str:
    name = _esc(_name(report, row))
    picture = _picture(tile, name, f"z{row}")
    if others:  # a near or exact duplicate: both pictures side by side
        figures = [f"<figure>{picture}<figcaption>{name}</figcaption></figure>"]
        for other, t in others.items():
            other_name = _esc(_name(report, other))
            figures.append(
                f"<figure>{_picture(t, other_name, f'z{row}-{other}')}<figcaption>{other_name}</figcaption></figure>"
            )
        picture = '<div class="pair">' + "".join(figures) + "</div>"
    issues = worst_first(report, issues)
    items = "".join(_issue_item(report, i) for i in issues)
    return (
        f'<article class="card sev-{_esc(issues[0].severity)}">{picture}<h3>{name} '
        f'<span class="where">image id {int(report.dataset.images.id[row])}</span></h3>'
        f"{_files(report, row)}<ul>{items}</ul></article>"
    )


def _page(report: AuditReport, cards: list[str], left_out: int, thumb: int) -> str:
    dataset = [i for i in report.issues if i.image < 0]
    parts = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>svmlp audit: '
        f"{_esc(str(report.source))}</title><style>{_CSS.replace('THUMB', str(thumb + 18))}</style></head><body>",
        f"<h1>svmlp audit</h1><p>{_esc(header(report))}</p>",
        _summary_table(report),
        *(f'<p class="where">note: {_esc(n)}</p>' for n in report.notes),
        _filters(report),
    ]
    if dataset:
        items = "".join(_issue_item(report, i) for i in worst_first(report, dataset))
        parts.append(f'<h2>The data set as a whole</h2><ul id="dataset">{items}</ul>')
    parts.append(f"<h2>Flagged images ({len(cards) + left_out})</h2>")
    parts.append('<div class="cards">' + "\n".join(cards) + "</div>")
    if left_out:
        parts.append(
            f"<p>{left_out} more flagged images were not drawn (max_images); the JSON report lists all.</p>"
        )
    return "\n".join([*parts, f"<script>{_SCRIPT}</script></body></html>\n"])


def _card_key(report: AuditReport, issues: list[Issue]) -> tuple[Any, ...]:
    """Worst first: by the image's worst severity, then its highest score at that severity."""
    worst = min(rank(i.severity) for i in issues)
    top = max(score_key(i) for i in issues if rank(i.severity) == worst)
    return (worst, -top, -len(issues), location(report, issues[0])[:2])


def render_html(
    report: AuditReport,
    path: Path,
    *,
    thumb: int = 360,
    max_images: int = 2000,
    zoom: int = 1024,
    max_zoom: int = 150,
) -> int:
    """Write one self-contained HTML page to ``path``: the counts, the data-set-level issues, then
    a card per flagged image, worst first, with a thumbnail (longest side ``thumb`` px; every box
    drawn faintly, flagged ones strongly in their severity's colour and named) and its issues.
    A click on the thumbnail of the first ``max_zoom`` cards opens the image large (longest side
    ``zoom`` px, or the image's own size, the boxes drawn at that resolution, so a plate a few
    pixels tall in the thumbnail can be read); no script needed. A near or exact duplicate shows
    the other image beside it. Missing or undecodable images get a grey placeholder. Returns the
    number of cards drawn; past ``max_images`` a note says how many flagged images were left out.
    """
    by_image: dict[int, list[Issue]] = {}
    for issue in report.issues:
        if issue.image >= 0:
            by_image.setdefault(issue.image, []).append(issue)
    order = sorted(by_image, key=lambda i: _card_key(report, by_image[i]))
    shown = order[: max(max_images, 0)]
    # Pillow lets go of the GIL while it decodes, resizes and encodes: threads scale. The flagged
    # images are broken ones too; what Pillow would warn about them, their cards already say
    guard = LinkGuard(report.dataset.inputs.roots)
    zoomed = set(shown[: max(max_zoom, 0)])
    pairs = {
        i: sorted({x.other_image for x in by_image[i] if x.other_image >= 0 and x.other_image != i})[:2]
        for i in shown
    }
    others_needed = sorted({o for os_ in pairs.values() for o in os_})
    with quiet_images():
        tiles = map_threads(
            lambda i: _tile(report, i, by_image[i], thumb, guard, zoom if i in zoomed else 0),
            shown,
            threads=min(8, os.cpu_count() or 2),
        )
        other_tiles = dict(
            zip(
                others_needed,
                map_threads(
                    lambda i: _tile(report, i, [], thumb // 2, guard),
                    others_needed,
                    threads=min(8, os.cpu_count() or 2),
                ),
            )
        )
    cards = [
        _card(report, i, by_image[i], t, {o: other_tiles[o] for o in pairs[i]}) for i, t in zip(shown, tiles)
    ]
    write_atomic(path, _page(report, cards, len(order) - len(shown), thumb).encode("utf-8"))
    return len(shown)
