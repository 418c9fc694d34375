"""Seconds to get a COCO data set into FiftyOne: svmlp versus FiftyOne's own COCO importer.

    .venv/bin/python scripts/bench_fiftyone.py                 # 10 000 images, about 100 000 boxes
    .venv/bin/python scripts/bench_fiftyone.py --images 2000 --repeat 1

The set is :func:`svmlp.synth.generate_annotations` (vehicles with their plates, linked), written
once as one COCO file; FiftyOne's importer wants every image file to exist, so each is a hard link
to one small JPEG (neither side reads the pixels). Rows, each into a new FiftyOne data set in the
same database, best of ``--repeat``:

- FiftyOne: ``fo.Dataset.from_dir(dataset_type=fo.types.COCODetectionDataset)`` on the file;
- svmlp: ``svmlp.read`` of the same file plus ``to_fiftyone`` (the whole path a user takes), and
  ``to_fiftyone`` alone (the model already in memory);
- ``from_fiftyone`` of the data set svmlp wrote, back to the model, for reference.

Goal: svmlp (read + to_fiftyone) at least 2× faster than FiftyOne's importer.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _bench import best, log  # scripts/_bench.py: scripts/ is on sys.path

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")


def make_set(n: int, folder: Path) -> tuple[Path, Path]:
    """The COCO file and its image folder (hard links to one JPEG)."""
    from PIL import Image

    import svmlp
    from svmlp.synth import generate_annotations

    labels = folder / "coco" / "annotations" / "instances_train.json"
    images = folder / "coco" / "images" / "train"
    if labels.is_file():
        return labels, images
    shutil.rmtree(folder / "coco", ignore_errors=True)
    ds = generate_annotations(n, seed=0, vehicles=(4, 13), splits=[("train", 1.0)])
    svmlp.write(ds, folder / "coco", format="coco", images="none")
    images.mkdir(parents=True, exist_ok=True)
    one = folder / "one.jpg"
    Image.new("RGB", (640, 480), (90, 90, 90)).save(one)
    for name in ds.images.file_name.tolist():
        os.link(one, images / name)
    return labels, images


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "svmlp-bench-fiftyone")
    args = ap.parse_args(argv)

    import svmlp
    from svmlp.fiftyone import from_fiftyone, to_fiftyone
    from svmlp.fiftyone._db import connect

    fo = connect()
    folder = args.dir / str(args.images)
    folder.mkdir(parents=True, exist_ok=True)
    labels, images = make_set(args.images, folder)
    name = f"svmlp-bench-{os.getpid()}"
    state: dict[str, object] = {}

    def fiftyone_importer() -> float:
        t = time.perf_counter()
        d = fo.Dataset.from_dir(
            dataset_type=fo.types.COCODetectionDataset,
            data_path=str(images),
            labels_path=str(labels),
            label_types="detections",
            name=name,
            overwrite=True,
            progress=False,
        )
        took = time.perf_counter() - t
        field = next(iter(d.get_field_schema(embedded_doc_type=fo.Detections)))
        state["boxes"] = d.count(f"{field}.detections")
        d.delete()
        return took

    def svmlp_read_and_write() -> float:
        t = time.perf_counter()
        ds = svmlp.read(labels, format="coco", probe=False)
        d = to_fiftyone(ds, name=name, overwrite=True)
        took = time.perf_counter() - t
        state["model"] = ds
        d.delete()
        return took

    def svmlp_write() -> float:
        ds = state["model"]
        t = time.perf_counter()
        d = to_fiftyone(ds, name=name, overwrite=True)  # type: ignore[arg-type]
        took = time.perf_counter() - t
        state["bulk"] = d.info["svmlp"]["bulk_write"]
        d.delete()
        return took

    def svmlp_back() -> float:
        d = to_fiftyone(state["model"], name=name, overwrite=True)  # type: ignore[arg-type]
        t = time.perf_counter()
        back = from_fiftyone(d)
        took = time.perf_counter() - t
        assert len(back.boxes) == len(state["model"].boxes)  # type: ignore[attr-defined]
        d.delete()
        return took

    rows = []
    for label, fn in (
        ("FiftyOne: Dataset.from_dir(COCODetectionDataset)", fiftyone_importer),
        ("svmlp: read COCO + to_fiftyone", svmlp_read_and_write),
        ("svmlp: to_fiftyone (model in memory)", svmlp_write),
        ("svmlp: from_fiftyone (back to the model)", svmlp_back),
    ):
        seconds = best(fn, args.repeat)
        log(f"{label}: {seconds:.2f} s")
        rows.append((label, seconds))

    ds = state["model"]
    n_img, n_box = len(ds.images), len(ds.boxes)  # type: ignore[attr-defined]
    assert state["boxes"] == n_box, (state["boxes"], n_box)
    print(
        f"machine: {platform.system()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"fiftyone {fo.__version__}, MongoDB {fo.core.odm.database.get_db_conn().client.server_info()['version']}"
    )
    print(f"set: {n_img} images, {n_box} boxes (one COCO file); best of {args.repeat}")
    print()
    print("| path | seconds | boxes/s | vs FiftyOne's importer |")
    print("|---|---:|---:|---:|")
    base = rows[0][1]
    for label, seconds in rows:
        ratio = "(the other way)" if "from_fiftyone" in label else f"{base / seconds:.1f}×"
        print(f"| {label} | {seconds:.2f} | {n_box / seconds:,.0f} | {ratio} |")
    print()
    ratio = base / rows[1][1]
    print(f"bulk write path taken: {state['bulk']}")
    print(
        f"svmlp (read + to_fiftyone) vs FiftyOne's importer: {ratio:.1f}× (goal >= 2): {'ok' if ratio >= 2 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
