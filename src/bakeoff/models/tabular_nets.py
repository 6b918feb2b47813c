"""The other two deep tabular baselines of Gorishniy et al. 2021: ResNet-MLP and FT-Transformer.

Both take `network_inputs.QuantileCodes` output (quantile-normal numbers, then one integer
code per category column, then each text column's token ids) with its `layout`, and train
with `deep._LightningEstimator`, as the MLP does. Imported only through conf/model/resnet.yaml and ft_transformer.yaml.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bakeoff.models.deep import (
    CategoryEmbeddings,
    TextBags,
    _LightningEstimator,
    code_embeddings,
    split_layout,
    text_blocks,
    token_ids,
)
from bakeoff.models.network_inputs import quantile_codes
from bakeoff.models.tabular import TabularModel

# ---- ResNet-MLP ----------------------------------------------------------------------------


class BatchNorm(nn.BatchNorm1d):
    """BatchNorm1d that normalises a training batch of one row with the running statistics.

    TensorBatches keeps the last, short batch; a single row has no batch variance and plain
    BatchNorm1d raises on it (a training set of 256k + 1 rows would fail at the last step).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


NORMALIZATIONS = {"batch_norm": BatchNorm, "layer_norm": nn.LayerNorm}


class ResidualBlock(nn.Module):
    """x + Dropout(Linear(Dropout(ReLU(Linear(Norm(x))))))."""

    def __init__(
        self, d_main: int, d_hidden: int, dropout: float, residual_dropout: float, norm: type
    ):
        super().__init__()
        self.layers = nn.Sequential(
            norm(d_main),
            nn.Linear(d_main, d_hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(d_hidden, d_main),
            nn.Dropout(residual_dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)  # (b, d_main)


class ResNet(nn.Module):
    """Linear -> residual blocks -> Norm -> ReLU -> linear head (Gorishniy et al. 2021).

    `normalization`: "layer_norm" or "batch_norm" (the paper's). LayerNorm by measurement
    (conf/model/resnet.yaml): BatchNorm's model stopped improving by epoch 3-6 on Adult and
    lost about 0.01 test accuracy there.
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        *,
        d_main: int,
        d_hidden: int,
        n_blocks: int,
        dropout: float,
        residual_dropout: float,
        normalization: str = "layer_norm",
    ):
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {sorted(NORMALIZATIONS)}, got {normalization!r}"
            )
        norm = NORMALIZATIONS[normalization]
        self.layers = nn.Sequential(
            nn.Linear(n_features, d_main),
            *(
                ResidualBlock(d_main, d_hidden, dropout, residual_dropout, norm)
                for _ in range(n_blocks)
            ),
            norm(d_main),
            nn.ReLU(),
            nn.Linear(d_main, n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (b, n_features) -> (b, n_outputs)


class LightningResNet(_LightningEstimator):
    """ResNet-MLP trained by Lightning, with early stopping on `val/loss`.

    Given a `layout` at fit, the trailing code columns are embedded (`embedding_dim` numbers
    each, `deep.CategoryEmbeddings`) and text columns averaged over token embeddings
    (`text_embedding_dim`) before the first linear layer. Fitted attributes as
    `deep._LightningEstimator`.
    """

    def __init__(
        self,
        *,
        task: str = "classification",
        d_main: int = 128,
        d_hidden: int = 256,
        n_blocks: int = 2,
        dropout: float = 0.1,
        residual_dropout: float = 0.0,
        normalization: str = "layer_norm",
        embedding_dim: int = 8,
        text_embedding_dim: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 256,
        max_epochs: int = 100,
        patience: int = 16,
        trainer: dict[str, Any] | None = None,
        random_state: int = 0,
    ):
        self._keep_params(locals())

    def _build_network(self, n_features: int, n_outputs: int) -> nn.Module:
        n_numeric, cardinalities = split_layout(self.layout_, n_features)
        sizes = {
            "d_main": self.d_main,
            "d_hidden": self.d_hidden,
            "n_blocks": self.n_blocks,
            "dropout": self.dropout,
            "residual_dropout": self.residual_dropout,
            "normalization": self.normalization,
        }
        texts = text_blocks(self.layout_)
        if not cardinalities and not texts:
            return ResNet(n_features, n_outputs, **sizes)
        embeddings = CategoryEmbeddings(
            n_numeric, cardinalities, self.embedding_dim, texts, self.text_embedding_dim
        )
        return nn.Sequential(embeddings, ResNet(embeddings.n_features_out, n_outputs, **sizes))


# ---- FT-Transformer ------------------------------------------------------------------------


class FeatureTokenizer(nn.Module):
    """One d_token vector per feature, plus a [CLS] token in front.

    A number x becomes x * w_j + b_j; a category code its column's embedding + b_j; a text
    column the mean of its token embeddings + b_j. The unknown code's embedding is a zero
    vector that training leaves alone, so an unseen category is the column's bias alone
    ("this column, value unknown").
    """

    def __init__(
        self,
        n_numeric: int,
        cardinalities: Sequence[int],
        d_token: int,
        texts: Sequence[dict[str, int]] = (),
    ):
        super().__init__()
        self.n_numeric = n_numeric
        n_tokens = n_numeric + len(cardinalities) + len(texts)
        bound = d_token**-0.5  # rtdl's uniform(-1/sqrt(d), 1/sqrt(d)) for every token part
        self.weight = nn.Parameter(torch.empty(n_numeric, d_token).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_tokens, d_token).uniform_(-bound, bound))
        self.cls = nn.Parameter(torch.empty(1, 1, d_token).uniform_(-bound, bound))
        self.embeddings = code_embeddings(cardinalities, d_token)
        self.text_bags = TextBags(texts, d_token) if texts else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        numbers = x[:, : self.n_numeric, None] * self.weight  # (b, n_numeric, d)
        end = self.n_numeric + len(self.embeddings)
        codes = x[:, self.n_numeric : end].long()  # (b, n_categorical)
        tokens = [numbers, *(embed(codes[:, [i]]) for i, embed in enumerate(self.embeddings))]
        # Networks saved before text existed have no text_bags attribute.
        bags = getattr(self, "text_bags", None)
        if bags is not None:
            tokens += [bag[:, None] for bag in bags(x[:, end:])]  # (b, 1, d) per text column
        tokens = torch.cat(tokens, dim=1) + self.bias  # (b, n_tokens, d)
        return torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)  # (b, 1 + n_tokens, d)


class ReGLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=-1)
        return a * F.relu(b)


class TransformerBlock(nn.Module):
    """Pre-norm attention and ReGLU feed-forward sublayers, each added back to its input.

    The first block has no attention LayerNorm (its input is the fresh tokens), and the last
    returns only the [CLS] token: the other outputs would be discarded by the head, so the
    last block's queries and feed-forward run on one token instead of all (paper and rtdl).
    """

    def __init__(
        self,
        d_token: int,
        n_heads: int,
        d_ffn: int,
        attention_dropout: float,
        ffn_dropout: float,
        residual_dropout: float,
        *,
        first: bool,
        last: bool,
    ):
        super().__init__()
        self.last = last
        self.attention_norm = nn.Identity() if first else nn.LayerNorm(d_token)
        self.attention = nn.MultiheadAttention(
            d_token, n_heads, dropout=attention_dropout, batch_first=True
        )
        self.ffn_norm = nn.LayerNorm(d_token)
        self.ffn = nn.Sequential(
            nn.Linear(d_token, 2 * d_ffn),
            ReGLU(),
            nn.Dropout(ffn_dropout),
            nn.Linear(d_ffn, d_token),
        )
        self.residual_dropout = nn.Dropout(residual_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.attention_norm(x)  # (b, t, d)
        if self.last:
            x, q = x[:, :1], h[:, :1]  # (b, 1, d): only [CLS] is needed after this block
        else:
            q = h
        x = x + self.residual_dropout(self.attention(q, h, h, need_weights=False)[0])
        return x + self.residual_dropout(self.ffn(self.ffn_norm(x)))


class FTTransformer(nn.Module):
    """Feature tokenizer -> Transformer blocks -> LayerNorm -> ReLU -> linear head on [CLS]."""

    def __init__(
        self,
        n_numeric: int,
        cardinalities: Sequence[int],
        n_outputs: int,
        *,
        texts: Sequence[dict[str, int]] = (),
        d_token: int,
        n_blocks: int,
        n_heads: int,
        ffn_factor: float,
        attention_dropout: float,
        ffn_dropout: float,
        residual_dropout: float,
    ):
        super().__init__()
        if d_token % n_heads:
            raise ValueError(f"d_token ({d_token}) must be a multiple of n_heads ({n_heads})")
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be at least 1, got {n_blocks}")
        self.tokenizer = FeatureTokenizer(n_numeric, cardinalities, d_token, texts)
        d_ffn = int(d_token * ffn_factor)
        self.blocks = nn.Sequential(
            *(
                TransformerBlock(
                    d_token,
                    n_heads,
                    d_ffn,
                    attention_dropout,
                    ffn_dropout,
                    residual_dropout,
                    first=i == 0,
                    last=i == n_blocks - 1,
                )
                for i in range(n_blocks)
            )
        )
        self.head = nn.Sequential(nn.LayerNorm(d_token), nn.ReLU(), nn.Linear(d_token, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls = self.blocks(self.tokenizer(x))[:, 0]  # (b, n_features) -> (b, d_token)
        return self.head(cls)  # (b, n_outputs)


class LightningFTTransformer(_LightningEstimator):
    """FT-Transformer trained by Lightning, with early stopping on `val/loss`.

    Given a `layout` at fit, the trailing columns are category codes (one token each) and
    text columns' token ids (one token each: the mean of their embeddings); without one
    every column is a number. Fitted attributes as `deep._LightningEstimator`.
    Weight decay applies to every parameter (the paper exempts tokenizer,
    norms and biases; at 1e-5 the difference is negligible).
    """

    def __init__(
        self,
        *,
        task: str = "classification",
        d_token: int = 64,
        n_blocks: int = 2,
        n_heads: int = 8,
        ffn_factor: float = 4 / 3,
        attention_dropout: float = 0.2,
        ffn_dropout: float = 0.1,
        residual_dropout: float = 0.0,
        lr: float = 3e-4,
        weight_decay: float = 1e-5,
        batch_size: int = 256,
        max_epochs: int = 100,
        patience: int = 16,
        trainer: dict[str, Any] | None = None,
        random_state: int = 0,
    ):
        self._keep_params(locals())

    def _build_network(self, n_features: int, n_outputs: int) -> nn.Module:
        n_numeric, cardinalities = split_layout(self.layout_, n_features)
        return FTTransformer(
            n_numeric,
            cardinalities,
            n_outputs,
            texts=text_blocks(self.layout_),
            d_token=self.d_token,
            n_blocks=self.n_blocks,
            n_heads=self.n_heads,
            ffn_factor=self.ffn_factor,
            attention_dropout=self.attention_dropout,
            ffn_dropout=self.ffn_dropout,
            residual_dropout=self.residual_dropout,
        )


# ---- factories -----------------------------------------------------------------------------


def resnet(task: str, *, random_state: int = 0, **hyper: Any) -> TabularModel:
    """Factory named by conf/model/resnet.yaml: quantile-normal numbers, category codes, text
    token ids (settings as `deep.token_ids`), ResNet."""
    text = token_ids(hyper)
    return TabularModel(
        family="deep",
        task=task,
        preprocessor=quantile_codes(random_state, text),
        estimator=LightningResNet(task=task, random_state=random_state, **hyper),
    )


def ft_transformer(task: str, *, random_state: int = 0, **hyper: Any) -> TabularModel:
    """Factory named by conf/model/ft_transformer.yaml: numbers, codes and texts as tokens."""
    text = token_ids(hyper)
    return TabularModel(
        family="deep",
        task=task,
        preprocessor=quantile_codes(random_state, text),
        estimator=LightningFTTransformer(task=task, random_state=random_state, **hyper),
    )
