import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from bakeoff.data.images import checked_shape, image_columns, read_images
from bakeoff.problems import CardError, DataError
from conftest import PROJECT_ROOT


def rules(error: pytest.ExceptionInfo) -> list[str]:
    return sorted(p.rule for p in error.value.problems)


def write_image(path, array, **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **save)


@pytest.fixture
def image_folder(tmp_path):
    """Two classes: 'cat' (gray PNG 4x6, RGB JPEG 10x10, a corrupt .png), 'dog' (RGB .PNG)."""
    root = tmp_path / "images"
    write_image(root / "cat" / "b.png", np.full((4, 6), 255, dtype=np.uint8))
    write_image(root / "cat" / "a.jpg", np.full((10, 10, 3), 128, dtype=np.uint8), quality=95)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red: luma 0.299 * 255 ≈ 76 in "L"
    write_image(root / "dog" / "z.PNG", rgb)
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def folder_source(path) -> dict:
    return {"kind": "images", "format": "folder", "path": str(path)}


def test_digits_card_reads_as_a_pixel_table():
    card = yaml.safe_load((PROJECT_ROOT / "conf" / "data" / "digits.yaml").read_text())
    frame = read_images(card["source"], card["image"], card["target"], PROJECT_ROOT)
    pixels = frame.drop(columns="label")
    assert frame.shape == (1797, 65)
    assert list(frame.columns) == [*image_columns((1, 8, 8)), "label"]
    assert (pixels.dtypes == np.float32).all()
    assert pixels.min().min() == 0.0 and pixels.max().max() == 1.0
    assert frame["label"].nunique() == 10


def test_digits_refuses_another_shape():
    with pytest.raises(CardError, match=r"\[1, 8, 8\]"):
        read_images({"format": "digits"}, {"shape": [1, 16, 16]}, "label", PROJECT_ROOT)


def test_malformed_card_is_a_card_error(tmp_path):
    with pytest.raises(CardError, match="channels 1 or 3"):
        read_images({"format": "digits"}, {"shape": [2, 8, 8]}, "label", tmp_path)
    with pytest.raises(CardError, match="tiff"):
        read_images({"format": "tiff"}, {"shape": [1, 8, 8]}, "label", tmp_path)


def test_folder_lists_every_undecodable_file(image_folder, tmp_path):
    with pytest.raises(DataError) as error:
        read_images(folder_source("images"), {"shape": [1, 4, 4]}, "label", tmp_path)
    [problem] = error.value.problems
    assert problem.rule == "image_undecodable"
    assert problem.file == "images/cat/broken.png"  # relative to the root, not absolute
    assert "Pillow" in problem.message


def test_folder_converts_resizes_and_orders_rows(image_folder, tmp_path):
    (image_folder / "cat" / "broken.png").unlink()
    frame = read_images(folder_source(image_folder), {"shape": [1, 4, 4]}, "label", tmp_path)
    assert frame.shape == (3, 17)
    assert frame["label"].tolist() == ["cat", "cat", "dog"]  # class, then file name
    X = frame.drop(columns="label").to_numpy().reshape(-1, 1, 4, 4)
    assert X.shape == (3, 1, 4, 4) and X.dtype == np.float32
    np.testing.assert_allclose(X[0], 128 / 255, atol=2 / 255)  # a.jpg (JPEG rounding)
    np.testing.assert_allclose(X[1], 1.0)  # b.png, 4x6 squeezed to 4x4
    np.testing.assert_allclose(X[2], 76 / 255, atol=1 / 255)  # red RGB → luma
    again = read_images(folder_source(image_folder), {"shape": [1, 4, 4]}, "label", tmp_path)
    pd.testing.assert_frame_equal(frame, again)


def test_folder_rgb_keeps_channels_first(image_folder, tmp_path):
    (image_folder / "cat" / "broken.png").unlink()
    frame = read_images(folder_source(image_folder), {"shape": [3, 2, 2]}, "label", tmp_path)
    red = frame.drop(columns="label").to_numpy().reshape(-1, 3, 2, 2)[2]
    np.testing.assert_allclose(red[0], 1.0)
    np.testing.assert_allclose(red[1:], 0.0)


def test_folder_structure_problems(tmp_path):
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "x.png", np.zeros((2, 2), dtype=np.uint8))
    write_image(tmp_path / "two" / "a" / "x.png", np.zeros((2, 2), dtype=np.uint8))
    (tmp_path / "two" / "empty").mkdir()
    (tmp_path / "two" / "other").mkdir()
    (tmp_path / "two" / "other" / "readme.txt").write_text("no images here")
    shape = {"shape": [1, 2, 2]}
    found = {}
    for path in ("missing", "flat", "two"):
        with pytest.raises(DataError) as error:
            read_images(folder_source(path), shape, "label", tmp_path)
        found[path] = error.value.problems
    assert [p.rule for p in found["missing"]] == ["image_source_missing"]
    [flat] = found["flat"]
    assert flat.rule == "image_no_classes" and flat.examples == ["x.png"]
    assert [(p.rule, p.file) for p in found["two"]] == [  # all of them, not just the first
        ("image_class_empty", "two/empty"),
        ("image_class_empty", "two/other"),
    ]


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return {"kind": "images", "format": "npz", "path": path.name}


@pytest.mark.parametrize("scale", [255, 1.0])
def test_npz_uint8_and_float(tmp_path, scale):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(5, 3, 4, 3), dtype=np.uint8)  # (N, H, W, C)
    X = raw if scale == 255 else (raw / 255).astype(np.float64)
    source = write_npz(tmp_path / "d.npz", X=X, y=np.array(["a", "b", "a", "b", "a"]))
    frame = read_images(source, {"shape": [3, 3, 4]}, "label", tmp_path)
    images = frame.drop(columns="label").to_numpy().reshape(-1, 3, 3, 4)
    np.testing.assert_allclose(images, raw.transpose(0, 3, 1, 2) / 255, rtol=1e-6)
    assert frame["label"].tolist() == ["a", "b", "a", "b", "a"]
    assert (frame.drop(columns="label").dtypes == np.float32).all()


def test_npz_grayscale_without_channel_axis_and_custom_keys(tmp_path):
    X = np.zeros((4, 2, 2), dtype=np.uint8)
    np.savez(tmp_path / "g.npz", images=X, labels=np.arange(4))
    source = {"format": "npz", "path": "g.npz", "x_key": "images", "y_key": "labels"}
    frame = read_images(source, {"shape": [1, 2, 2]}, "digit", tmp_path)
    assert frame.shape == (4, 5) and frame["digit"].tolist() == [0, 1, 2, 3]


def test_npz_problems_are_collected(tmp_path):
    X = np.zeros((4, 2, 2), dtype=np.float32)
    X[1, 0, 0] = np.nan
    source = write_npz(tmp_path / "bad.npz", X=X, y=np.arange(3))
    with pytest.raises(DataError) as error:
        read_images(source, {"shape": [1, 2, 2]}, "label", tmp_path)
    assert rules(error) == ["npz_image_not_finite", "npz_length_mismatch"]
    assert error.value.problems[0].examples == [1]


def test_npz_wrong_shape_says_what_was_found(tmp_path):
    source = write_npz(tmp_path / "cf.npz", X=np.zeros((2, 3, 4, 4), np.uint8), y=np.arange(2))
    with pytest.raises(DataError, match=r"found \(2, 3, 4, 4\).*channels-first"):
        read_images(source, {"shape": [3, 4, 4]}, "label", tmp_path)
    with pytest.raises(DataError, match=r"found \(2, 3, 4, 4\)") as error:
        read_images(source, {"shape": [1, 4, 4]}, "label", tmp_path)
    assert rules(error) == ["npz_image_shape"]


def test_npz_missing_file_and_keys(tmp_path):
    with pytest.raises(DataError) as error:
        read_images({"format": "npz", "path": "nope.npz"}, {"shape": [1, 2, 2]}, "y", tmp_path)
    assert rules(error) == ["image_source_missing"]
    source = write_npz(tmp_path / "k.npz", images=np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(DataError, match=r"\['X', 'y'\]") as error:
        read_images(source, {"shape": [1, 2, 2]}, "y", tmp_path)
    assert rules(error) == ["npz_key_missing"]


def test_checked_shape_names_what_a_shape_must_be():
    assert checked_shape([3, 2, 2]) == (3, 2, 2)
    for bad in (None, [2, 8, 8], [1, 8], [1, 0, 8], [1, 8.0, 8]):
        with pytest.raises(ValueError, match="channels 1 or 3"):
            checked_shape(bad)
