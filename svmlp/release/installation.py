"""Put an unpacked archive into a release folder: merged file by file, all or nothing.

Several archives of one release may fill the same folders (``images/train`` from one,
``images/val`` from another), so an archive's tree is merged into the target, not swapped in: a
file of the same path is replaced, everything else is kept. The archive is first unpacked (safely:
:func:`svmlp.release.archive.safe_extract`) into a scratch folder on the same file system; each file is
then renamed into place, the file it replaces moved aside and deleted only once every file is in.
On a failure the moves are undone in reverse order.

Each archive's links are checked to stay inside its own folder when it is unpacked; two archives
merged into one release could still combine links that are harmless alone (``a -> .`` from one,
``l -> a/../x`` from the other) into one that leaves the release. So after a merge every link in
the release whose text reads as a path inside it must also lead inside it, or the merge is undone.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from svmlp._files import remove_tree, walk, within
from svmlp.errors import ArchiveError
from svmlp.release.archive import safe_extract

__all__ = ["install_archive"]


def install_archive(
    archive: Path,
    target: Path,
    *,
    scratch: Path,
    max_bytes: int | None = None,
    reserved: tuple[str, ...] = (),
    root: Path | None = None,
) -> list[str]:
    """Unpack ``archive`` into ``scratch`` and merge its tree into ``target`` (created if missing).

    ``reserved``: top-level names the archive may not hold (a release's ``.svmlp`` state folder).
    ``root``: the release folder ``target`` lies in (default ``target``), whose links must not come
    to lead out of it. Returns the paths of the files unpacked, relative to ``target``.

    >>> install_archive(Path("images.tar.xz"), Path("data/svmlp"), scratch=Path("data/svmlp/.svmlp"))  # doctest: +SKIP
    ['images/0001.jpg', 'images/0002.jpg', ...]
    """
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="unpack-", dir=scratch))
    new, old = work / "new", work / "old"
    new.mkdir()
    old.mkdir()
    try:
        files = safe_extract(archive, new, max_bytes=max_bytes)
        for name in reserved:
            if (new / name).exists() or (new / name).is_symlink():
                raise ArchiveError(
                    f"{archive}: holds {name}/, which svmlp keeps for itself in the release folder"
                )
        target.mkdir(parents=True, exist_ok=True)
        release = Path(os.path.realpath(root if root is not None else target))

        def check() -> None:
            found = _escaping_link(release, skip=Path(os.path.realpath(scratch)))
            if found is not None:
                raise ArchiveError(
                    f"{archive}: once merged, the symbolic link {found[0]!r} in {release} leads to "
                    f"{found[1]}, outside the release folder (links that stay inside on their own "
                    "combine to leave it); svmlp undid the merge: the archive is hostile, or the "
                    "folder holds a link that does not belong to the release"
                )

        _merge(new, old, target, check)
        return files
    finally:
        remove_tree(work)


def _entries(new: Path) -> list[str]:
    """Every file and link under ``new`` (folders are made as needed), parents before children."""
    out = []
    for dirpath, dirnames, filenames in walk(new):
        rel = os.path.relpath(dirpath, new)
        for name in sorted(filenames) + sorted(
            d for d in dirnames if os.path.islink(os.path.join(dirpath, d))
        ):
            out.append(os.path.normpath(os.path.join(rel, name)))
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
    return out


def _merge(new: Path, old: Path, target: Path, check: Callable[[], None]) -> None:
    """Move every entry of ``new`` into ``target``; ``check()`` vets the result before it stays."""
    done: list[tuple[Path, Path | None]] = []  # (placed file, what it replaced, set aside in old)
    try:
        for rel in _entries(new):
            dest = target / rel
            _make_folders(dest.parent, target, old, done)
            aside = None
            if dest.exists() or dest.is_symlink():  # a file, a link, or a folder where a file goes
                aside = old / rel
                aside.parent.mkdir(parents=True, exist_ok=True)
                os.rename(dest, aside)
            done.append((dest, aside))
            os.rename(new / rel, dest)
        check()
    except BaseException:
        _undo(done)
        raise


def _escaping_link(root: Path, *, skip: Path) -> tuple[str, str] | None:
    """(path under ``root``, where it leads) of a symbolic link whose text reads as a path inside
    ``root`` but that really leads outside, or None. A link whose text points outside on its face
    (a user's link to another disk) is someone's deliberate choice and is left alone."""
    top, skipped = os.fspath(root), os.fspath(skip)
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if e.is_symlink():
                try:
                    text = os.readlink(e.path)
                except OSError:  # gone since the folder was listed
                    continue
                if os.path.isabs(text) or not within(os.path.normpath(os.path.join(folder, text)), top):
                    continue
                real = os.path.realpath(e.path)
                if not within(real, top):
                    return os.path.relpath(e.path, top), real
            elif e.is_dir(follow_symlinks=False) and e.path != skipped:
                stack.append(e.path)
    return None


def _make_folders(folder: Path, target: Path, old: Path, done: list[tuple[Path, Path | None]]) -> None:
    """Folders from ``target`` down to ``folder``; a file in the way is set aside (and restored on undo)."""
    rel_parts = folder.relative_to(target).parts
    current = target
    for part in rel_parts:
        current = current / part
        if current.is_dir() and not current.is_symlink():
            continue
        if current.exists() or current.is_symlink():
            aside = old / current.relative_to(target)
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.rename(current, aside)
            done.append((current, aside))
        current.mkdir()
        if not done or done[-1][0] != current:
            done.append((current, None))


def _undo(done: list[tuple[Path, Path | None]]) -> None:
    for placed, aside in reversed(done):
        try:
            if placed.is_dir() and not placed.is_symlink():
                if not any(placed.iterdir()):
                    placed.rmdir()
            elif placed.exists() or placed.is_symlink():
                placed.unlink()
            if aside is not None and (aside.exists() or aside.is_symlink()):
                os.rename(aside, placed)
        except OSError:
            continue  # best effort: put back as much as the file system allows
