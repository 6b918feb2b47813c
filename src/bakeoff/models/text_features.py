"""Text columns as model inputs, without torch: TF-IDF n-grams (the linear text models), their
truncated SVD (every other classical model), and WordPiece token ids (the networks trained
from scratch). Fitted on the training split only and saved inside the model.

Every transformer here takes one text column (a Series or a one-column frame; missing values
are empty documents) and is cloned once per text column by `preprocessing.ColumnsByKind`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

log = logging.getLogger(__name__)

PAD_ID = 0  # token id of padding: EmbeddingBag leaves it out of the mean
UNKNOWN_TOKEN, PAD_TOKEN = "[UNK]", "[PAD]"


def documents(X: Any) -> list[str]:
    """One text column (Series, one-column frame or 1-D array) as a list of str; missing
    values are empty documents."""
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(f"a text transformer takes one column, got {list(X.columns)}")
        X = X.iloc[:, 0]
    column = pd.Series(np.asarray(X, dtype=object).ravel())
    return column.where(column.notna(), "").astype(str).tolist()


class TfidfText(TransformerMixin, BaseEstimator):
    """TF-IDF of word n-grams and of character n-grams inside word boundaries (`char_wb`),
    side by side, each block L2-normalised; sparse.

    The defaults are the reference recipe for short reviews (docs/text.md): word 1-2-grams,
    char 2-5-grams, sublinear tf, terms in at least 2 training documents. `char_ngrams=None`
    leaves the character block out.
    """

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = (2, 5),
        min_df: int | float = 2,
        sublinear_tf: bool = True,
        max_features: int | None = None,
    ):
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.max_features = max_features

    def _vectorizer(self, analyzer: str, ngrams) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=tuple(ngrams),
            min_df=self.min_df,
            sublinear_tf=self.sublinear_tf,
            max_features=self.max_features,
        )

    def fit(self, X, y=None) -> TfidfText:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        parts = [("word", self._vectorizer("word", self.word_ngrams))]
        if self.char_ngrams is not None:
            parts.append(("char", self._vectorizer("char_wb", self.char_ngrams)))
        self.union_ = FeatureUnion(parts)
        out = self.union_.fit_transform(documents(X))
        self.n_features_out_ = out.shape[1]
        return out

    def transform(self, X):
        return self.union_.transform(documents(X))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.union_.get_feature_names_out()


class TextComponents(TransformerMixin, BaseEstimator):
    """A text column as a fixed number of dense features: `TfidfText`, then truncated SVD
    (latent semantic analysis) to `n_components` (fewer when the training text has fewer
    terms or documents). For the classical models that need dense, low-dimensional input."""

    def __init__(self, *, n_components: int = 100, random_state: int = 0):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None) -> TextComponents:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        if self.n_components < 1:
            raise ValueError(f"text_components must be at least 1, got {self.n_components}")
        self.tfidf_ = TfidfText()
        counts = self.tfidf_.fit_transform(X)
        # TruncatedSVD needs fewer components than terms (and than documents).
        k = max(1, min(self.n_components, counts.shape[1] - 1, counts.shape[0] - 1))
        self.svd_ = TruncatedSVD(n_components=k, random_state=self.random_state)
        return self.svd_.fit_transform(counts).astype(np.float32)

    def transform(self, X) -> np.ndarray:
        return self.svd_.transform(self.tfidf_.transform(X)).astype(np.float32)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        prefix = "text" if input_features is None else str(np.ravel(input_features)[0])
        return np.asarray([f"{prefix}_svd{i}" for i in range(self.svd_.n_components)], dtype=object)


class TokenIds(TransformerMixin, BaseEstimator):
    """A text column as token ids for a bag-of-embeddings network (fastText-style).

    A word vocabulary is fitted on the training documents with Hugging Face `tokenizers`
    (lower-cased, split on white space and punctuation): the `vocab_size` most frequent words
    seen at least `min_count` times. Its WordLevel trainer, unlike the WordPiece and BPE
    trainers of tokenizers 0.23, is deterministic: those gave different ids, and at ties a
    different vocabulary, on every run over the same documents. Each row holds the ids of
    its first `max_tokens` words, then the ids of their adjacent pairs (bigrams) seen at
    least `min_bigram_count` times in training (the `max_bigrams` most frequent), padded
    with 0. Ids: 0 padding, 1 unknown word, then the words, then the bigrams. The width is
    the longest training row's, at most `max_tokens` (plus its bigrams).

    `block_` = {"vocabulary": number of ids, "length": width}: the network's embedding size.
    """

    requirements = ("tokenizers",)  # to predict: see TabularModel.requirements

    def __init__(
        self,
        *,
        vocab_size: int = 30000,
        min_count: int = 2,
        max_tokens: int = 256,
        bigrams: bool = True,
        min_bigram_count: int = 2,
        max_bigrams: int = 200000,
    ):
        self.vocab_size = vocab_size
        self.min_count = min_count
        self.max_tokens = max_tokens
        self.bigrams = bigrams
        self.min_bigram_count = min_bigram_count
        self.max_bigrams = max_bigrams

    def fit(self, X, y=None) -> TokenIds:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        from tokenizers import Tokenizer, normalizers, pre_tokenizers
        from tokenizers.models import WordLevel
        from tokenizers.trainers import WordLevelTrainer

        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        docs = documents(X)
        tokenizer = Tokenizer(WordLevel(unk_token=UNKNOWN_TOKEN))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        # [PAD] first, so that it is id 0 (PAD_ID), [UNK] id 1.
        trainer = WordLevelTrainer(
            vocab_size=self.vocab_size,
            min_frequency=self.min_count,
            special_tokens=[PAD_TOKEN, UNKNOWN_TOKEN],
            show_progress=False,
        )
        tokenizer.train_from_iterator(docs, trainer=trainer)
        # Kept as its JSON text: a plain string pickles across tokenizers versions.
        self.tokenizer_json_ = tokenizer.to_str()
        self._tokenizer = tokenizer
        self.n_tokens_ = tokenizer.get_vocab_size()
        tokens = self._tokens(docs)
        self.bigram_keys_ = (
            self._frequent_bigrams(tokens) if self.bigrams else np.empty(0, np.int64)
        )
        self.width_ = max(1, min(self.max_tokens, tokens.shape[1]))
        return self._ids(tokens)

    def transform(self, X) -> np.ndarray:
        return self._ids(self._tokens(documents(X)))

    @property
    def block_(self) -> dict[str, int]:
        length = self.width_ + (self.width_ - 1 if self.bigrams else 0)
        return {"vocabulary": int(self.n_tokens_ + len(self.bigram_keys_)), "length": int(length)}

    def _tokens(self, docs: list[str]) -> np.ndarray:
        """(n, longest) token ids, -1 after each document's end (and for empty ones)."""
        tokenizer = getattr(self, "_tokenizer", None)
        if tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = self._tokenizer = Tokenizer.from_str(self.tokenizer_json_)
        encoded = [e.ids[: self.max_tokens] for e in tokenizer.encode_batch(docs)]
        longest = max((len(ids) for ids in encoded), default=0)
        out = np.full((len(docs), max(longest, 1)), -1, dtype=np.int64)
        for i, ids in enumerate(encoded):
            out[i, : len(ids)] = ids
        return out

    def _pair_keys(self, tokens: np.ndarray) -> np.ndarray:
        """(n, width - 1) key a * n_tokens + b of each adjacent pair; -1 where one is padding."""
        a, b = tokens[:, :-1], tokens[:, 1:]
        return np.where((a >= 0) & (b >= 0), a * self.n_tokens_ + b, -1)

    def _frequent_bigrams(self, tokens: np.ndarray) -> np.ndarray:
        keys = self._pair_keys(tokens)
        keys, counts = np.unique(keys[keys >= 0], return_counts=True)
        keep = counts >= self.min_bigram_count
        keys, counts = keys[keep], counts[keep]
        # The most frequent, ties by key (deterministic); then sorted for searchsorted.
        order = np.lexsort((keys, -counts))[: self.max_bigrams]
        return np.sort(keys[order])

    def _ids(self, tokens: np.ndarray) -> np.ndarray:
        tokens = tokens[:, : self.width_]
        if tokens.shape[1] < self.width_:
            pad = np.full((len(tokens), self.width_ - tokens.shape[1]), -1, dtype=np.int64)
            tokens = np.hstack([tokens, pad])
        unigrams = np.where(tokens >= 0, tokens, PAD_ID)
        if not self.bigrams:
            return unigrams
        keys = self._pair_keys(tokens)
        found = np.searchsorted(self.bigram_keys_, keys)
        found = np.minimum(found, max(len(self.bigram_keys_) - 1, 0))
        known = (keys >= 0) & (len(self.bigram_keys_) > 0)
        if len(self.bigram_keys_):
            known &= self.bigram_keys_[found] == keys
        pairs = np.where(known, self.n_tokens_ + found, PAD_ID)
        return np.hstack([unigrams, pairs])

    def __getstate__(self) -> dict[str, Any]:
        # A copy: the default state is the instance's own __dict__.
        state = dict(super().__getstate__())
        state.pop("_tokenizer", None)  # rebuilt from tokenizer_json_ on first use
        return state
