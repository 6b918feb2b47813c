"""Transfer learning on text: a pretrained Hugging Face encoder as a contestant, two ways.

- `text_encoder_frozen`: each text column as the encoder's mean-pooled embedding (attention
  mask aware), computed once per document and cached (`EmbeddingCache`), then a linear model.
- `text_encoder_finetuned`: the encoder and a linear head trained end to end by the shared
  Lightning base (`deep._LightningEstimator`), lower layers optionally frozen.

Weights come from a local folder, or a hub id already in the local Hugging Face cache; nothing
is downloaded unless `allow_download` is true. Weights load from safetensors only: a folder
that holds only pickled weights (pytorch_model.bin, *.pt, *.ckpt) is refused, since loading a
pickle runs code from the file. A fitted model keeps the encoder's and the tokenizer's FILES
(`save_pretrained`), written by `save_files` beside the model's pickle, which leaves those
weights out (`__getstate__`); `load_files` restores them (see `bakeoff.tracking.serving`).

This module imports torch and transformers; only conf/model/text_encoder_*.yaml import it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from bakeoff.fileio import write_atomic
from bakeoff.models import preprocessing
from bakeoff.models.deep import _LightningEstimator, split_layout, text_blocks
from bakeoff.models.tabular import TabularModel
from bakeoff.models.text_features import documents

log = logging.getLogger(__name__)

# Packages a saved encoder model needs to predict (TabularModel.requirements).
REQUIREMENTS = ("transformers", "tokenizers", "safetensors")
PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
# Fits expected to take longer than this say so, with their estimate, before the bulk starts.
ANNOUNCE_SECONDS = 60.0
HASH_CHUNK = 1 << 20
CACHE_FORMAT = 2  # part of the cache's fingerprint: a new layout never reads an old one

# transformers' per-load progress bars ("Loading weights") would print on every fit.
transformers.utils.logging.disable_progress_bar()


# ---- finding and loading a pretrained model ------------------------------------------------


def check_safetensors(folder: Path) -> None:
    """Refuse a model folder without safetensors weights, naming the pickled file if any."""
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder}: no config.json; a pretrained model folder holds config.json, "
            "*.safetensors weights and the tokenizer files (docs/text.md)"
        )
    pickled = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLED_WEIGHTS)
    if any(folder.glob("*.safetensors")):
        if pickled:
            log.info("%s: using the safetensors weights; ignoring %s", folder, ", ".join(pickled))
        return
    if pickled:
        raise ValueError(
            f"{folder / pickled[0]}: pickled weights are refused (loading a pickle runs code "
            "from the file); use a model folder with *.safetensors weights, or convert this "
            "one where you trust it: save_pretrained(folder, safe_serialization=True)"
        )
    raise FileNotFoundError(f"{folder}: no *.safetensors weights")


def resolve_pretrained(pretrained: str | Path | None, *, allow_download: bool = False) -> Path:
    """The local folder of `pretrained`: a folder, or a hub id found in the local Hugging Face
    cache (downloaded into it only with `allow_download`). Checked for safetensors weights."""
    if not pretrained:
        raise ValueError(
            "pretrained is not set: give the folder of a Hugging Face model (config.json, "
            "*.safetensors, tokenizer files), e.g. models.<name>.pretrained=<folder>; "
            "docs/text.md says how to get one without internet"
        )
    path = Path(pretrained).expanduser()
    if path.is_dir():
        check_safetensors(path)
        return path
    if not HUB_ID.match(str(pretrained)):
        raise FileNotFoundError(f"pretrained: the folder {path.resolve()} does not exist")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(
            snapshot_download(
                str(pretrained),
                local_files_only=not allow_download,
                allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"],
            )
        )
    except LocalEntryNotFoundError as error:
        where = (
            f"pretrained: {pretrained!r} is neither a folder ({path.resolve()}) nor a model in "
            f"the local Hugging Face cache ({constants.HF_HUB_CACHE})"
        )
        if not allow_download:
            raise FileNotFoundError(
                f"{where}; place the model folder there, or set allow_download: true to "
                "download it (needs internet)"
            ) from error
        # Raised too when the hub cannot be reached (no internet, HF_HUB_OFFLINE=1).
        raise FileNotFoundError(
            f"{where}, and downloading it failed: {error}. Place the model folder there, or "
            "point pretrained at a local folder"
        ) from error
    check_safetensors(folder)
    return folder


def load_encoder(folder: Path) -> nn.Module:
    """The encoder network of a checked folder, from its safetensors weights, in eval mode."""
    check_safetensors(folder)
    model = transformers.AutoModel.from_pretrained(
        folder, local_files_only=True, use_safetensors=True
    )
    return model.eval()


def load_tokenizer(folder: Path):
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tokenizer.pad_token_id is None:
        raise ValueError(f"{folder}: the tokenizer has no padding token")
    # Padding on the right: the networks here drop the padding columns a batch shares.
    tokenizer.padding_side = "right"
    return tokenizer


def folder_fingerprint(folder: Path, extra: str = "") -> str:
    """A hash of the model folder's files (names and contents) and `extra` settings."""
    digest = hashlib.sha256(extra.encode())
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
                digest.update(chunk)
    return digest.hexdigest()[:32]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(b, t, d) token states, (b, t) mask -> (b, d): the mean over real tokens only."""
    mask = mask.to(hidden.dtype).unsqueeze(-1)  # (b, t, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ---- frozen: embeddings, cached --------------------------------------------------------------


def document_key(document: str) -> str:
    return hashlib.sha1(document.encode()).hexdigest()


class EmbeddingCache:
    """Embeddings on disk, one vector per document: `<folder>/<fingerprint>/<shard>.npz`.

    Keyed by content: the fingerprint covers the model's files and the encoding settings, a
    document's key is the SHA-1 of its text (hex: numpy's bytes arrays drop trailing zero
    bytes, which would lose digests that end in one); a changed model or document never reads a stale
    vector. Each write is a new shard, renamed into place, so refits running side by side
    (resample folds, learning-curve points) never write the same file.
    """

    def __init__(self, folder: Path, fingerprint: str):
        self.folder = Path(folder) / fingerprint

    def read(self) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for shard in sorted(self.folder.glob("*.npz")):
            with np.load(shard, allow_pickle=False) as data:
                found.update(zip(data["keys"].tolist(), data["vectors"], strict=True))
        return found

    def write(self, keys: list[str], vectors: np.ndarray) -> None:
        if not keys:
            return
        name = hashlib.sha1("".join(sorted(keys)).encode()).hexdigest()[:16]

        def save(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, keys=np.array(keys, dtype=str), vectors=vectors)

        write_atomic(self.folder / f"{name}.npz", save)


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """A text column as a pretrained encoder's mean-pooled token states (attention-mask aware),
    (n, hidden size) float32. The encoder is frozen: `fit` only loads it.

    Each distinct document of a call is encoded once, and vectors found in the on-disk cache
    under `cache_dir` (None: no disk cache) are reused, so CV folds, learning-curve points
    and re-runs do not re-encode their rows. Nothing is kept in memory between calls: a
    served model's memory stays flat, and its measured latency is the encoding's. Documents are batched by length
    (`batch_size`, truncated at `max_length` tokens); `device` "auto" uses a GPU when present.
    """

    requirements = REQUIREMENTS

    def __init__(
        self,
        *,
        pretrained: str | None = None,
        allow_download: bool = False,
        max_length: int = 128,
        batch_size: int = 64,
        cache_dir: str | None = None,
        device: str = "auto",
    ):
        self.pretrained = pretrained
        self.allow_download = allow_download
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.device = device

    def fit(self, X, y=None) -> SentenceEmbeddings:
        folder = resolve_pretrained(self.pretrained, allow_download=self.allow_download)
        self._encoder, self._tokenizer = load_encoder(folder), load_tokenizer(folder)
        settings = f"cache {CACHE_FORMAT}/mean-pool/{self.max_length}"
        self.fingerprint_ = folder_fingerprint(folder, settings)
        self.n_features_out_ = int(self._encoder.config.hidden_size)
        return self

    def transform(self, X) -> np.ndarray:
        docs = documents(X)
        keys = [document_key(doc) for doc in docs]
        known: dict[str, np.ndarray] = {}
        if self.cache_dir:
            cache = EmbeddingCache(Path(self.cache_dir), self.fingerprint_)
            known = cache.read()
        missing = {k: doc for k, doc in zip(keys, docs, strict=True) if k not in known}
        if missing:
            vectors = self._encode(list(missing.values()))
            known.update(zip(missing, vectors, strict=True))
            if self.cache_dir:
                cache.write(list(missing), vectors)
        if self.cache_dir:
            distinct = len(set(keys))
            log.info(
                "text embeddings: %d document(s), %d distinct: %d encoded, %d from the cache",
                len(docs),
                distinct,
                len(missing),
                distinct - len(missing),
            )
        out = np.empty((len(docs), self.n_features_out_), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = known[key]
        return out

    def _encode(self, docs: list[str]) -> np.ndarray:
        encoder, tokenizer = self._loaded()
        device = _device(self.device)
        encoder.to(device)
        lengths = np.array([len(doc) for doc in docs])
        order = np.argsort(lengths, kind="stable")  # similar lengths together: less padding
        out = np.empty((len(docs), self.n_features_out_), dtype=np.float32)
        started = time.perf_counter()
        with torch.inference_mode():
            for start in range(0, len(docs), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = tokenizer(
                    [docs[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(device)
                hidden = encoder(**batch).last_hidden_state  # (b, t, d)
                out[rows] = mean_pool(hidden, batch["attention_mask"]).float().cpu().numpy()
                if start == 0:
                    self._announce(time.perf_counter() - started, lengths, rows)
        encoder.to("cpu")
        return out

    def _announce(self, seconds: float, lengths: np.ndarray, rows: np.ndarray) -> None:
        """After the first (shortest) batch: the whole encoding's expected time, scaled by
        characters (a batch's cost grows with its length), when it is over a minute."""
        expected = seconds * max(lengths.sum(), 1) / max(lengths[rows].sum(), 1)
        if expected > ANNOUNCE_SECONDS:
            log.info(
                "encoding %d documents with %s: about %s expected (first %d took %.2f s)",
                len(lengths),
                self.pretrained,
                _duration(expected),
                len(rows),
                seconds,
            )

    def _loaded(self):
        encoder = self.__dict__.get("_encoder")
        if encoder is None:
            raise RuntimeError(
                "the text encoder's weights are not loaded: the model was unpickled without "
                "its files; load the saved MLflow model (mlflow.pyfunc.load_model), which "
                "restores them"
            )
        return encoder, self._tokenizer

    def save_files(self, folder: Path) -> bool:
        encoder, tokenizer = self._loaded()
        encoder.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        return True

    def load_files(self, folder: Path) -> None:
        self._encoder, self._tokenizer = load_encoder(folder), load_tokenizer(folder)
        self.cache_dir = None  # a served model writes no cache files

    def __getstate__(self) -> dict[str, Any]:
        # The weights travel as files (save_files), never inside the pickle.
        return _without(super().__getstate__(), "_encoder", "_tokenizer")


def _without(state: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in names}


# ---- fine-tuned: the encoder trained with a head ---------------------------------------------


class PretrainedTokens(TransformerMixin, BaseEstimator):
    """A text column as the pretrained tokenizer's input ids, padded on the right with its
    padding id to the longest training document (at most `max_length` tokens).

    `block_` = {"vocabulary", "length", "pad_id"} describes the columns for the network.
    """

    requirements = REQUIREMENTS

    def __init__(
        self, *, pretrained: str | None = None, allow_download: bool = False, max_length: int = 128
    ):
        self.pretrained = pretrained
        self.allow_download = allow_download
        self.max_length = max_length

    def fit(self, X, y=None) -> PretrainedTokens:
        folder = resolve_pretrained(self.pretrained, allow_download=self.allow_download)
        self._tokenizer = load_tokenizer(folder)
        ids = self._tokenizer(documents(X), truncation=True, max_length=self.max_length)
        self.width_ = max(len(row) for row in ids["input_ids"])
        self.block_ = {
            "vocabulary": len(self._tokenizer),
            "length": int(self.width_),
            "pad_id": int(self._tokenizer.pad_token_id),
        }
        return self

    def transform(self, X) -> np.ndarray:
        tokenizer = self.__dict__.get("_tokenizer")
        if tokenizer is None:
            raise RuntimeError(
                "the tokenizer is not loaded: the model was unpickled without its files; "
                "load the saved MLflow model (mlflow.pyfunc.load_model)"
            )
        ids = tokenizer(
            documents(X),
            padding="max_length",
            truncation=True,
            max_length=self.width_,
            return_tensors="np",
        )["input_ids"]
        return ids.astype(np.int64)

    def save_files(self, folder: Path) -> bool:
        self._tokenizer.save_pretrained(folder)
        return True

    def load_files(self, folder: Path) -> None:
        self._tokenizer = load_tokenizer(folder)

    def __getstate__(self) -> dict[str, Any]:
        return _without(super().__getstate__(), "_tokenizer")


def freeze(encoder: nn.Module, *, embeddings: bool, layers: int) -> None:
    """Stop training the embeddings and/or the lowest `layers` transformer layers (-1: all)."""
    if embeddings or layers:
        encoder.get_input_embeddings().requires_grad_(False)
        if hasattr(encoder, "embeddings"):  # BERT-style: positions and token types too
            encoder.embeddings.requires_grad_(False)
    if not layers:
        return
    n_layers = encoder.config.num_hidden_layers
    stacks = [m for m in encoder.modules() if isinstance(m, nn.ModuleList) and len(m) == n_layers]
    if not stacks:
        raise ValueError(f"frozen_layers: cannot find the {n_layers} layers of {type(encoder)}")
    for layer in stacks[0][: n_layers if layers < 0 else layers]:
        layer.requires_grad_(False)


class EncoderClassifier(nn.Module):
    """Leading numeric columns, then each text column's token ids through the encoder,
    mean-pooled; all of it into dropout and a linear head."""

    def __init__(
        self,
        encoder: nn.Module,
        n_numeric: int,
        texts: Sequence[dict[str, int]],
        n_outputs: int,
        dropout: float,
    ):
        super().__init__()
        self.encoder = encoder
        self.n_numeric = n_numeric
        self.lengths = [int(block["length"]) for block in texts]
        self.pad_ids = [int(block["pad_id"]) for block in texts]
        width = n_numeric + len(texts) * int(encoder.config.hidden_size)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x[:, : self.n_numeric]]
        blocks = x[:, self.n_numeric :].long().split(self.lengths, dim=1)
        for ids, pad in zip(blocks, self.pad_ids, strict=True):
            mask = ids != pad  # (b, length)
            # Right-padded: the columns past the batch's longest document are padding.
            keep = max(int(mask.sum(dim=1).max()), 1)
            ids, mask = ids[:, :keep], mask[:, :keep]
            hidden = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
            parts.append(mean_pool(hidden, mask))  # (b, hidden size)
        return self.head(torch.cat(parts, dim=1))  # (b, n_outputs)


class LightningTextEncoder(_LightningEstimator):
    """A pretrained encoder fine-tuned with a linear head by the shared Lightning base (early
    stopping on `val/loss`, best weights kept, NaN guard, checkpoints, DDP).

    Takes `network_inputs`-style input: numbers, then each text column's token ids
    (`PretrainedTokens`), described by the `layout` given at fit. `frozen_layers` lowest
    transformer layers (-1: all) and, with `freeze_embeddings`, the embeddings stay fixed.
    Fitted attributes as `deep._LightningEstimator`; `network_` holds the encoder, whose
    weights `save_files` writes as safetensors.
    """

    requirements = REQUIREMENTS

    def __init__(
        self,
        *,
        task: str = "classification",
        pretrained: str | None = None,
        allow_download: bool = False,
        freeze_embeddings: bool = False,
        frozen_layers: int = 0,
        dropout: float = 0.1,
        lr: float = 5e-5,
        weight_decay: float = 0.01,
        batch_size: int = 32,
        max_epochs: int = 3,
        patience: int = 1,
        trainer: dict[str, Any] | None = None,
        random_state: int = 0,
    ):
        self._keep_params(locals())

    def _build_network(self, n_features: int, n_outputs: int) -> nn.Module:
        n_numeric, cardinalities = split_layout(self.layout_, n_features)
        texts = text_blocks(self.layout_)
        if not texts or cardinalities:
            raise ValueError(
                "the fine-tuned text encoder takes text columns (and numbers); the input "
                f"has {len(texts)} text column(s) and {len(cardinalities)} category code(s)"
            )
        folder = resolve_pretrained(self.pretrained, allow_download=self.allow_download)
        encoder = load_encoder(folder)
        freeze(encoder, embeddings=self.freeze_embeddings, layers=self.frozen_layers)
        network = EncoderClassifier(encoder, n_numeric, texts, n_outputs, self.dropout)
        # from_pretrained returns eval mode, which Lightning keeps: dropout would stay off.
        return network.train()

    def save_files(self, folder: Path) -> bool:
        from safetensors.torch import save_file

        network = self._network()
        network.encoder.save_pretrained(Path(folder) / "encoder", safe_serialization=True)
        head = {k: v.contiguous() for k, v in network.head.state_dict().items()}
        save_file(head, str(Path(folder) / "head.safetensors"))
        return True

    def load_files(self, folder: Path) -> None:
        from safetensors.torch import load_file

        n_numeric, _ = split_layout(self.layout_, self.n_features_in_)
        encoder = load_encoder(Path(folder) / "encoder")
        network = EncoderClassifier(
            encoder, n_numeric, text_blocks(self.layout_), self.n_outputs_, self.dropout
        )
        network.head.load_state_dict(load_file(str(Path(folder) / "head.safetensors")))
        self.network_ = network.eval()

    def _network(self) -> EncoderClassifier:
        network = self.__dict__.get("network_")
        if network is None:
            raise RuntimeError(
                "the fine-tuned encoder's weights are not loaded: the model was unpickled "
                "without its files; load the saved MLflow model (mlflow.pyfunc.load_model)"
            )
        return network

    def _forward(self, X: Any) -> torch.Tensor:
        self._network()
        return super()._forward(X)

    def __getstate__(self) -> dict[str, Any]:
        return _without(super().__getstate__(), "network_")


# ---- factories -------------------------------------------------------------------------------


def _columns(text) -> preprocessing.ColumnsByKind:
    """Numbers imputed and standardised, categories one-hot, each text column through `text`."""
    return preprocessing.by_kind(
        make_pipeline(preprocessing._numeric_imputer(), StandardScaler()),
        make_pipeline(preprocessing._categorical_imputer(), preprocessing._one_hot()),
        text,
    )


def text_encoder_frozen(
    task: str,
    *,
    pretrained: str | None = None,
    allow_download: bool = False,
    max_length: int = 128,
    batch_size: int = 64,
    cache_dir: str | None = None,
    device: str = "auto",
    C: float = 1.0,
    max_iter: int = 2000,
) -> TabularModel:
    """Factory named by conf/model/text_encoder_frozen.yaml: each text column as the frozen
    encoder's mean-pooled embedding, then logistic regression (ridge, alpha = 1 / C)."""
    embeddings = SentenceEmbeddings(
        pretrained=pretrained,
        allow_download=allow_download,
        max_length=max_length,
        batch_size=batch_size,
        cache_dir=cache_dir,
        device=device,
    )
    estimator = (
        LogisticRegression(C=C, max_iter=max_iter)
        if task == "classification"
        else Ridge(alpha=1.0 / C)
    )
    return TabularModel(
        family="deep", task=task, preprocessor=_columns(embeddings), estimator=estimator
    )


def text_encoder_finetuned(
    task: str,
    *,
    pretrained: str | None = None,
    allow_download: bool = False,
    max_length: int = 128,
    random_state: int = 0,
    **hyper: Any,
) -> TabularModel:
    """Factory named by conf/model/text_encoder_finetuned.yaml: the encoder and a linear head
    fine-tuned end to end (other columns join the pooled embedding before the head)."""
    tokens = PretrainedTokens(
        pretrained=pretrained, allow_download=allow_download, max_length=max_length
    )
    estimator = LightningTextEncoder(
        task=task,
        pretrained=pretrained,
        allow_download=allow_download,
        random_state=random_state,
        **hyper,
    )
    return TabularModel(
        family="deep", task=task, preprocessor=_columns(tokens), estimator=estimator
    )
