"""Images as a table: one row per image, columns `pixel_0` … `pixel_{C*H*W-1}`, then the target.

Every stage after ingest works on that table unchanged; image models get the (N, C, H, W)
Pixels are float32 in [0, 1], each image's (C, H, W) array
flattened in C order, so `pixel_{(c*H + h)*W + w}` is channel c, row h, column w.

Sources (`data.source.format`), each checked against `data.image.shape: [C, H, W]` with
C = 1 (grayscale) or 3 (RGB):

- `digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images); shape [1, 8, 8] only.
- `folder`: `<path>/<class>/*.{png,jpg,jpeg,bmp,gif}`, extensions in any case, not recursive,
  hidden files skipped; the class is the folder name (str). Every image is turned upright
  (EXIF), converted to "L" or "RGB" (alpha dropped), resized to (H, W) with Lanczos and
  scaled by 1/255. Rows are in sorted order of class, then file name.
- `npz`: a NumPy `.npz` with images under `x_key` (default "X") and labels under `y_key`
  (default "y", shape (N,)). Images are (N, H, W) for C = 1 or channels-last (N, H, W, C),
  uint8 (scaled by 1/255) or float in [0, 1]; they are not resized. Object arrays are
  refused (no pickle).

Bad data (missing paths, undecodable files, wrong shapes, NaN) is collected into `Problem`s
and raised as one `DataError`; a malformed card (unknown format, bad shape) is a ValueError.
"""

from __future__ import annotations

import logging
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from bakeoff.paths import relative_name
from bakeoff.problems import MAX_EXAMPLES, CardError, DataError, Problem

log = logging.getLogger(__name__)

FORMATS = ("digits", "folder", "npz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
MODES = {1: "L", 3: "RGB"}
DIGITS_SHAPE = (1, 8, 8)
# Pillow's decoders release the GIL, so threads overlap decoding of different files.
DECODE_THREADS = min(8, os.cpu_count() or 1)


def checked_shape(shape: Any) -> tuple[int, int, int]:
    """`shape` as (C, H, W), or a ValueError saying what an image shape must be."""
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != 3
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)
        or shape[0] not in MODES
    ):
        raise CardError(
            f"data.image.shape must be [channels, height, width] with channels 1 or 3 and "
            f"positive integer sizes, got {shape!r} (an image dataset card sets it; "
            "conf/model/cnn.yaml reads it)"
        )
    return (shape[0], shape[1], shape[2])


def image_columns(shape: tuple[int, int, int] | list[int]) -> list[str]:
    """The pixel column names for images of `shape` (C, H, W), in flattening order."""
    channels, height, width = shape
    return [f"pixel_{i}" for i in range(channels * height * width)]


def read_images(source: dict, image: dict, target: str, root: Path) -> pd.DataFrame:
    """The images named by the card's `source` as a pixel table with `target` as last column.

    `root` is the folder that a relative `source.path` is resolved against (the project).
    Raises DataError listing every problem found, ValueError for a malformed card.
    """
    shape = checked_shape((image or {}).get("shape"))  # C is 1 (grayscale) or 3 (RGB)
    fmt = source.get("format")
    if fmt not in FORMATS:
        raise CardError(
            f"data.source.format={fmt!r} is not an image format; choose one of {list(FORMATS)}"
        )
    if target in image_columns(shape):
        raise CardError(f"data.target={target!r} clashes with a pixel column name")
    if fmt == "digits":
        X, y = _read_digits(shape)
    else:
        if not source.get("path"):
            raise CardError(f"data.source.path is required for format {fmt!r}")
        path = Path(root) / source["path"]
        if fmt == "folder":
            X, y = _read_folder(path, shape, Path(root))
        else:
            x_key, y_key = source.get("x_key", "X"), source.get("y_key", "y")
            X, y = _read_npz(path, shape, x_key, y_key, Path(root))
    return _to_frame(X, y, shape, target)


def _to_frame(
    X: np.ndarray, y: np.ndarray, shape: tuple[int, int, int], target: str
) -> pd.DataFrame:
    # One float32 block, not copied (pandas 3 copies ndarrays unless told not to).
    frame = pd.DataFrame(X, columns=image_columns(shape), copy=False)
    frame[target] = y
    return frame


def _read_digits(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    if shape != DIGITS_SHAPE:
        raise CardError(
            f"the digits images are 1x8x8 grayscale: set data.image.shape: [1, 8, 8] "
            f"(got {list(shape)}); resize inside the model if it needs larger inputs"
        )
    bunch = load_digits()
    # Pixel values are counts 0..16 (4x4 blocks of a 32x32 bitmap).
    return (bunch.data / 16).astype(np.float32), bunch.target


def _list_folder(path: Path, root: Path) -> tuple[list[Path], list[str], list[Problem]]:
    """Image files under `path/<class>/`, sorted by class then name, with their classes."""
    where = relative_name(path, root)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        return [], [], [Problem("image_source_missing", f"the image folder {what}", file=where)]
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    class_dirs = [p for p in entries if p.is_dir()]
    loose = [p.name for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
    if not class_dirs:
        hint = f"; found {len(loose)} image(s) directly in it" if loose else ""
        message = f"no class subfolders: put each class's images in <path>/<class>/{hint}"
        return [], [], [Problem("image_no_classes", message, file=where, examples=loose)]
    if loose:
        log.warning("%s: ignoring %d image(s) outside class folders", where, len(loose))
    files, labels, problems = [], [], []
    for class_dir in class_dirs:
        names = sorted(
            p.name
            for p in class_dir.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
        if not names:
            problems.append(
                Problem(
                    "image_class_empty",
                    f"class folder {class_dir.name!r} holds no {'/'.join(IMAGE_SUFFIXES)} files",
                    file=relative_name(class_dir, root),
                )
            )
        files += [class_dir / name for name in names]
        labels += [class_dir.name] * len(names)
    return files, labels, problems


def _decode(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """One image file as uint8 (C, H, W): converted to L/RGB, resized with Lanczos."""
    channels, height, width = shape
    mode = MODES[channels]
    with Image.open(path) as img:
        # JPEG only: decode at a reduced scale still at least as large as the target
        # (either orientation, as EXIF may rotate it), which makes large photos cheap.
        img.draft(mode, (max(height, width), max(height, width)))
        img = ImageOps.exif_transpose(img)  # camera photos: pixels as the viewer shows them
        if img.mode.startswith("I"):  # 16-bit grayscale: convert() would clip, not scale
            img = Image.fromarray((np.asarray(img, dtype=np.uint32) >> 8).astype(np.uint8))
        if img.mode in ("P", "PA"):  # palette transparency is dropped via RGBA, silently
            img = img.convert("RGBA")
        img = img.convert(mode)
        if img.size != (width, height):
            img = img.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        pixels = np.asarray(img, dtype=np.uint8)
    # (H, W) or (H, W, C) → (C, H, W)
    return pixels.reshape(height, width, channels).transpose(2, 0, 1)


def _read_folder(
    path: Path, shape: tuple[int, int, int], root: Path
) -> tuple[np.ndarray, np.ndarray]:
    files, labels, problems = _list_folder(path, root)
    if problems:
        raise DataError(problems)
    X = np.empty((len(files), int(np.prod(shape))), dtype=np.float32)

    def decode_into(i: int) -> str | None:
        try:
            X[i] = _decode(files[i], shape).reshape(-1)
        except Exception as error:  # a bad file fails in many ways; each is a problem
            return f"{type(error).__name__}: {error}"
        return None

    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        failures = list(pool.map(decode_into, range(len(files))))
    problems = [
        Problem(
            "image_undecodable",
            f"Pillow cannot read this image ({failure})",
            file=relative_name(files[i], root),
        )
        for i, failure in enumerate(failures)
        if failure is not None
    ]
    if problems:
        raise DataError(problems)
    X /= 255
    log.info("decoded %d images in %d classes from %s", len(files), len(set(labels)), path)
    return X, np.array(labels, dtype=object)


def _load_npz(
    path: Path, x_key: str, y_key: str, where: str
) -> tuple[np.ndarray | None, np.ndarray | None, list[Problem]]:
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        return None, None, [Problem("image_source_missing", f"the .npz file {what}", file=where)]
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in (x_key, y_key) if k not in npz.files]
            if missing:
                message = f"missing array(s) {missing}; the file holds {sorted(npz.files)}"
                return None, None, [Problem("npz_key_missing", message, file=where)]
            return npz[x_key], npz[y_key], []
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        message = f"cannot read the .npz file ({type(error).__name__}: {error})"
        return None, None, [Problem("npz_unreadable", message, file=where)]


def _check_npz_pixels(
    X: np.ndarray, shape: tuple[int, int, int], x_key: str, where: str
) -> list[Problem]:
    """Problems with the image array: layout (vs the card's shape), dtype, values."""
    channels, height, width = shape
    wanted = [(height, width, channels)] + ([(height, width)] if channels == 1 else [])
    if X.ndim not in (3, 4) or X.shape[1:] not in wanted:
        layouts = " or ".join(str(("N", *w)) for w in wanted)
        hint = (
            "; it looks channels-first: save X.transpose(0, 2, 3, 1)"
            if X.shape[1:] == (channels, height, width) and channels > 1
            else ""
        )
        message = f"images must be {layouts} for image.shape {list(shape)}, found {X.shape}{hint}"
        return [Problem("npz_image_shape", message, file=where, column=x_key)]
    if X.dtype == np.uint8:
        return []
    if not np.issubdtype(X.dtype, np.floating):
        message = f"images must be uint8 (0..255) or float (0..1), found dtype {X.dtype}"
        return [Problem("npz_image_dtype", message, file=where, column=x_key)]
    problems = []
    finite = np.isfinite(X)
    if not finite.all():
        count, examples = _bad_images(~finite)
        message = f"{count} image(s) hold NaN or infinite pixels (examples: image indices)"
        problems.append(
            Problem("npz_image_not_finite", message, file=where, column=x_key, examples=examples)
        )
    outside = finite & ((X < 0) | (X > 1))
    if outside.any():
        count, examples = _bad_images(outside)
        message = (
            f"{count} image(s) hold float pixels outside [0, 1] (min {X[finite].min():g}, "
            f"max {X[finite].max():g}; examples: image indices); scale them or store uint8"
        )
        problems.append(
            Problem("npz_image_range", message, file=where, column=x_key, examples=examples)
        )
    return problems


def _bad_images(mask: np.ndarray) -> tuple[int, list[int]]:
    """How many images have a True pixel in `mask` (N, ...), and the first few indices."""
    bad = np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))
    return len(bad), bad[:MAX_EXAMPLES].tolist()


def _read_npz(
    path: Path, shape: tuple[int, int, int], x_key: str, y_key: str, root: Path
) -> tuple[np.ndarray, np.ndarray]:
    where = relative_name(path, root)
    X, y, problems = _load_npz(path, x_key, y_key, where)
    if problems:
        raise DataError(problems)
    problems = _check_npz_pixels(X, shape, x_key, where)
    if y.ndim != 1:
        message = f"labels must be a 1-D array (N,), found shape {y.shape}"
        problems.append(Problem("npz_label_shape", message, file=where, column=y_key))
    elif X.ndim > 0 and len(y) != len(X):
        message = f"{len(X)} images under {x_key!r} but {len(y)} labels under {y_key!r}"
        problems.append(Problem("npz_length_mismatch", message, file=where))
    if problems:
        raise DataError(problems)
    # (N, H, W[, C]) → (N, C, H, W) → flat rows; uint8 scaled once, in float32.
    images = X.reshape(len(X), shape[1], shape[2], shape[0]).transpose(0, 3, 1, 2)
    flat = np.ascontiguousarray(images, dtype=np.float32).reshape(len(X), -1)  # one copy
    if X.dtype == np.uint8:
        flat /= 255
    labels = y.astype(object) if y.dtype.kind == "U" else y
    return flat, labels
