"""Small file helpers shared by the stages: nothing is ever left half-written."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the workspace guard writes through here first thing in every stage
    import pandas as pd


@functools.cache
def _umask() -> int:
    """The process's umask (read by setting it, so once: at first use, not per file)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename it into place.

    The file gets the permissions a plain open() would give it (0666 less the umask, as DVC
    gives the files it restores): mkstemp's private 0600 would make reports and predictions
    unreadable to the rest of a team.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_tree(path: Path) -> None:
    """Remove a folder an earlier run wrote, before writing it afresh; no folder is fine.

    Anything else that stops the removal is raised (shutil's `ignore_errors` would hide it,
    and the run would then write among the old files, or through a symbolic link into
    another folder's).
    """
    if os.path.islink(path):
        raise OSError(
            f"{path} is a symbolic link: this folder is written afresh on every run, and "
            "emptying it would empty the folder it points to; remove the link"
        )
    if os.path.lexists(path):
        shutil.rmtree(path)


def write_json(path: Path, payload: Any) -> None:
    text = json.dumps(payload, indent=2, sort_keys=False, default=float) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    write_atomic(path, lambda tmp: frame.to_parquet(tmp))


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def md5_of(path: Path) -> str:
    """The md5 of the file's bytes: the hash dvc.lock records for a file output."""
    digest = hashlib.md5()
    with Path(path).open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
