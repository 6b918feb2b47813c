"""Shared fixtures: tiny generated tables, and the project's root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# No test may reach the Hugging Face hub: set before huggingface_hub reads it at import.
os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np
import pandas as pd
import pytest

from bakeoff.data.features import FeatureSplits

# Shared fixtures: the pipeline project copy, and a PostgreSQL-backed MLflow server.
from pipeline_project import PROJECT_ROOT, project, restored  # noqa: F401
from tracking_server import mlflow_server, postgres_url  # noqa: F401


def run_python(code: str, **options) -> subprocess.CompletedProcess:
    """`python -c code` in a fresh interpreter (this one's): for what depends on a process's
    own state (its imports, its memory, its exit); output captured as text."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, **options
    )


@pytest.hookimpl(tryfirst=True)  # before -m selects on the mark
def pytest_collection_modifyitems(config, items):
    """Tests of the shared pipeline project are marked `pipeline`: `make test` runs them in
    one pytest process and the rest in another, side by side (the project is built once)."""
    for item in items:
        if {"project", "restored"} & set(item.fixturenames):
            item.add_marker(pytest.mark.pipeline)


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """60 rows: numeric (with NaN), categorical (with NaN), an all-NaN column, binary target."""
    rng = np.random.default_rng(0)
    n = 60
    x1 = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    colour[:3] = None
    frame = pd.DataFrame(
        {
            "x1": x1,
            "x2": np.where(np.arange(n) % 7 == 0, np.nan, rng.normal(size=n)),
            "colour": colour,
            "empty": np.full(n, np.nan),
            "target": np.where(x1 + (colour == "red") > 0.3, "yes", "no"),
        }
    )
    return frame


@pytest.fixture
def regression_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 80
    X = rng.normal(size=(n, 3))
    return pd.DataFrame(
        {
            "a": X[:, 0],
            "b": X[:, 1],
            "c": X[:, 2],
            "y": 3 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=n),
        }
    )


def labelled_categories(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """For the networks: two numbers (x2 with NaNs), a colour that moves the binary label as
    much as x1 does (with missing values), and a noise category `shape`."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "black"], size=n)
    x1 = rng.normal(size=n)
    warm = np.isin(colour, ["red", "green"])
    y = (np.where(warm, 1.5, -1.5) + 1.5 * x1 + rng.normal(scale=0.5, size=n) > 0).astype(int)
    frame = pd.DataFrame(
        {
            "x1": x1,
            "x2": np.where(np.arange(n) % 9 == 0, np.nan, rng.normal(size=n)),
            "colour": pd.Series(colour, dtype="str").mask(np.arange(n) % 11 == 0),
            "shape": pd.Series(rng.choice(["circle", "square"], size=n), dtype="str"),
        }
    )
    return frame, y


def two_feature_splits(n: int, noise: float) -> FeatureSplits:
    """For the refits: x1 (plus noise) decides the binary label; 60/20/20 splits in order."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    frame["y"] = np.where(frame.x1 + noise * rng.normal(size=n) > 0, "pos", "neg")
    a, b = int(0.6 * n), int(0.8 * n)
    return FeatureSplits(
        frame.iloc[:a], frame.iloc[a:b], frame.iloc[b:], task="classification", target="y"
    )


POSITIVE = ["great", "wonderful", "moving", "brilliant", "charming", "funny"]
NEGATIVE = ["dull", "boring", "awful", "tedious", "clumsy", "bland"]
FILLER = [
    "the",
    "a",
    "film",
    "movie",
    "plot",
    "story",
    "cast",
    "director",
    "scene",
    "this",
    "is",
    "was",
    "and",
    "of",
    "with",
    "its",
]


def reviews(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """For the text models: a `review` (filler words around one or two sentiment words that
    decide the label), a number `runtime` that moves the label a little, a category `genre`
    (noise), a few missing and empty reviews; labels "fresh" / "rotten"."""
    rng = np.random.default_rng(seed)
    fresh = rng.random(n) < 0.5
    docs = []
    for positive in fresh:
        words = list(rng.choice(FILLER, size=rng.integers(4, 12)))
        cue = POSITIVE if positive else NEGATIVE
        for word in rng.choice(cue, size=rng.integers(1, 3)):
            words.insert(int(rng.integers(0, len(words) + 1)), str(word))
        docs.append(" ".join(words).capitalize() + ".")
    review = pd.Series(docs, dtype="str")
    review[::37] = None
    review[5::41] = "   "
    frame = pd.DataFrame(
        {
            "review": review,
            "runtime": rng.normal(100, 20, size=n) + 5 * fresh,
            "genre": pd.Series(rng.choice(["drama", "comedy", "horror"], size=n), dtype="str"),
        }
    )
    return frame, np.where(fresh, "fresh", "rotten")


def make_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 16-wide BERT with random weights and a WordPiece tokenizer trained on the
    test reviews, saved as a Hugging Face model folder (safetensors)."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    frame, _ = reviews(200)
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    docs = frame["review"].dropna().tolist()
    trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=special)
    tokenizer.train_from_iterator(docs, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[(t, tokenizer.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(fast),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(seed)
    transformers.BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder
