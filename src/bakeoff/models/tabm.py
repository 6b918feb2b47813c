"""TabM (Gorishniy, Kotelnikov & Babenko, ICLR 2025): one network that is k MLPs sharing most
of their weights, trained together and averaged.

The network is the `tabm` package's `TabM`, with `rtdl_num_embeddings`'
`PiecewiseLinearEmbeddings` for the numbers (bins from the training split only, kept in the
model) and the package's one-hot input for the category codes of `network_inputs.QuantileCodes`.
It outputs (b, k, n_outputs); `deep._LightningEstimator` trains on the mean of the k member
losses and predicts with the members' mean (probabilities, or values). Imported only through
conf/model/tabm.yaml.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import rtdl_num_embeddings
import tabm as tabm_package
import torch
from torch import nn

from bakeoff.models.deep import (
    TextBags,
    _as_features,
    _LightningEstimator,
    split_layout,
    text_blocks,
    token_ids,
)
from bakeoff.models.network_inputs import quantile_codes
from bakeoff.models.tabular import TabularModel

log = logging.getLogger(__name__)

EMBEDDINGS = ("piecewise_linear", "none")
ARCH_TYPES = ("tabm", "tabm-mini", "tabm-packed")
# A binary (or constant) column has one bin: its encoding is min-max scaling, which is all
# such a column needs; rtdl_num_embeddings warns about it on every fit.
ONE_BIN_WARNING = r"The \d+-th feature has just two bin edges"

# (k, d_block) per size preset. `paper`: the package's and the paper's defaults; `cpu`:
# smaller, by measurement on this project's 2-core machine (docs/tabm.md,
# benchmarks/results/tabm_sizes.json). Depth: the package's default, 2 blocks with
# embeddings and 3 without.
SIZES: dict[str, dict[str, int]] = {
    "paper": {"k": 32, "d_block": 512},
    "cpu": {"k": 16, "d_block": 256},
}
# `cpu` on a small table: TabM's cost per epoch grows with k * d_block^2 while a few hundred
# rows neither need nor pay for the width (docs/tabm.md).
SMALL_TABLE_ROWS = 2000
SMALL_TABLE_SIZE = {"k": 8, "d_block": 64}


def resolve_size(
    size: str,
    n_rows: int,
    *,
    k: int | None,
    n_blocks: int | None,
    d_block: int | None,
    embeddings: bool,
) -> dict[str, int]:
    """k, n_blocks and d_block of a fit: the preset for `size` and the training rows, each
    replaced by the value given explicitly (not None)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    preset = dict(SIZES[size])
    if size == "cpu" and n_rows < SMALL_TABLE_ROWS:
        preset = dict(SMALL_TABLE_SIZE)
    preset["n_blocks"] = 2 if embeddings else 3
    given = {"k": k, "n_blocks": n_blocks, "d_block": d_block}
    resolved = {name: given[name] if given[name] is not None else preset[name] for name in given}
    for name, value in resolved.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    return {name: int(value) for name, value in resolved.items()}


def pinned_size(config: dict[str, Any], train_rows: int) -> dict[str, Any]:
    """`config` with k and d_block fixed to what a fit on `train_rows` rows picks: the refits
    of a final model on fewer rows (folds, learning-curve points) then train the same
    network, not a smaller preset."""
    sizes = resolve_size(
        config.get("size", "cpu"),
        train_rows,
        k=config.get("k"),
        n_blocks=config.get("n_blocks"),
        d_block=config.get("d_block"),
        embeddings=config.get("embeddings", "piecewise_linear") != "none",
    )
    # n_blocks stays as configured: its default follows the embeddings, not the rows.
    return {**config, "k": sizes["k"], "d_block": sizes["d_block"]}


def piecewise_bins(X_numeric: np.ndarray, n_bins: int) -> list[torch.Tensor]:
    """Bin edges per numeric column, by `rtdl_num_embeddings.compute_bins` (quantiles).

    Column by column, on that column's finite values: a NaN must reach the network and the
    loss (the NaN guard names the epoch) rather than fail here, and compute_bins refuses a
    constant column. A column with fewer than two distinct values gets the single bin
    [v - 1, v + 1]; a column with fewer rows than bins, one bin less than its rows.
    """
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}")
    bins = []
    for column in torch.from_numpy(np.ascontiguousarray(X_numeric, dtype=np.float32)).T:
        values = column[torch.isfinite(column)]
        distinct = values.unique()
        if len(distinct) < 2:
            centre = float(distinct[0]) if len(distinct) else 0.0
            bins.append(torch.tensor([centre - 1.0, centre + 1.0]))
            continue
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=ONE_BIN_WARNING)
            edges = rtdl_num_embeddings.compute_bins(
                values[:, None], n_bins=min(n_bins, len(values) - 1)
            )
        bins.append(edges[0])
    return bins


class TabMNetwork(nn.Module):
    """Flat rows (numbers, category codes, then each text column's token ids) into
    `tabm.TabM`: (b, n_features) -> (b, k, n_out).

    Codes are one-hot encoded by the package. The unknown code (0: a category or a missing
    value training never saw) has its own one-hot column that training never activates, so
    an unseen category adds that column's initial, untrained weights.

    Text (the package has no text input): each text column is the mean of learned token
    embeddings (`deep.TextBags`, as in the MLP), shared by the k members like the number
    embeddings. The package's TabM then takes the embedded numbers and the text vectors as
    its numeric input, so its first layer's random-sign initialisation is per input column
    rather than per embedded feature; without text the network is the package's alone.
    """

    def __init__(
        self,
        n_numeric: int,
        cardinalities: Sequence[int],
        n_outputs: int,
        *,
        bins: list[torch.Tensor] | None,
        d_embedding: int,
        k: int,
        n_blocks: int,
        d_block: int,
        dropout: float,
        arch_type: str,
        texts: Sequence[dict[str, int]] = (),
        text_embedding_dim: int = 64,
    ):
        super().__init__()
        if arch_type not in ARCH_TYPES:
            raise ValueError(f"arch_type must be one of {ARCH_TYPES}, got {arch_type!r}")
        self.n_numeric, self.n_categorical = n_numeric, len(cardinalities)
        num_embeddings = None
        if bins is not None and n_numeric:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=ONE_BIN_WARNING)
                # version "B": the variant TabM was published with (the package refuses "A").
                num_embeddings = rtdl_num_embeddings.PiecewiseLinearEmbeddings(
                    bins, d_embedding, activation=False, version="B"
                )
        # Networks saved before text existed have no text_bags (see `forward`).
        self.text_bags = TextBags(texts, text_embedding_dim) if texts else None
        self.num_embeddings = None
        n_num_features = n_numeric
        if self.text_bags is not None:  # numbers embedded here, then joined by the text
            self.num_embeddings, num_embeddings = num_embeddings, None
            per_number = d_embedding if self.num_embeddings is not None else 1
            n_num_features = n_numeric * per_number + self.text_bags.n_features_out
        self.tabm = tabm_package.TabM.make(
            n_num_features=n_num_features,
            cat_cardinalities=list(cardinalities),
            d_out=n_outputs,
            num_embeddings=num_embeddings,
            k=k,
            n_blocks=n_blocks,
            d_block=d_block,
            dropout=dropout,
            arch_type=arch_type,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        end = self.n_numeric + self.n_categorical
        x_num = x[:, : self.n_numeric] if self.n_numeric else None  # (b, n_numeric)
        x_cat = x[:, self.n_numeric : end].long() if self.n_categorical else None  # (b, n_cat)
        bags = getattr(self, "text_bags", None)
        if bags is not None:
            parts = bags(x[:, end:])  # (b, text_embedding_dim) per text column
            if x_num is not None:
                embed = self.num_embeddings
                parts.insert(0, x_num if embed is None else embed(x_num).flatten(1))
            x_num = torch.cat(parts, dim=1)  # (b, n_num_features)
        return self.tabm(x_num, x_cat)  # (b, k, n_outputs)


class LightningTabM(_LightningEstimator):
    """TabM trained by Lightning: AdamW, gradients clipped to `gradient_clip_norm`, early
    stopping on the ensemble's `val/loss` (the loss of the averaged prediction).

    `size` picks k and d_block (`SIZES`; `cpu` shrinks for tables under `SMALL_TABLE_ROWS`
    training rows); `k`, `n_blocks`, `d_block` given explicitly win over the preset.
    `embeddings`: "piecewise_linear" (numbers through `n_bins` quantile bins of the training
    rows, each embedded in `d_embedding` numbers) or "none" (numbers as they come).
    Fitted attributes as `deep._LightningEstimator`, plus `k_`, `n_blocks_`, `d_block_` (what
    the fit used) and `bins_` (bin edges per numeric column, None without embeddings).
    """

    def __init__(
        self,
        *,
        task: str = "classification",
        size: str = "cpu",
        k: int | None = None,
        n_blocks: int | None = None,
        d_block: int | None = None,
        dropout: float = 0.1,
        arch_type: str = "tabm",
        embeddings: str = "piecewise_linear",
        n_bins: int = 48,
        d_embedding: int = 16,
        text_embedding_dim: int = 64,
        lr: float = 2e-3,
        weight_decay: float = 3e-4,
        gradient_clip_norm: float | None = 1.0,
        batch_size: int = 256,
        max_epochs: int = 200,
        patience: int = 16,
        trainer: dict[str, Any] | None = None,
        random_state: int = 0,
    ):
        self._keep_params(locals())

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
        layout: dict[str, Any] | None = None,
    ) -> LightningTabM:
        """As `_LightningEstimator.fit`; the bins and the size are decided from X alone."""
        if self.embeddings not in EMBEDDINGS:
            raise ValueError(f"embeddings must be one of {EMBEDDINGS}, got {self.embeddings!r}")
        X = _as_features(X)
        n_numeric, _ = split_layout(layout, X.shape[1])
        use_bins = self.embeddings == "piecewise_linear" and n_numeric > 0
        sizes = resolve_size(
            self.size,
            len(X),
            k=self.k,
            n_blocks=self.n_blocks,
            d_block=self.d_block,
            embeddings=use_bins,
        )
        self.k_, self.n_blocks_, self.d_block_ = sizes["k"], sizes["n_blocks"], sizes["d_block"]
        bins = piecewise_bins(X[:, :n_numeric], self.n_bins) if use_bins else None
        self.bins_ = None if bins is None else [b.numpy() for b in bins]
        log.info("TabM size %s on %d rows: %s", self.size, len(X), sizes)
        return super().fit(X, y, X_val, y_val, layout)

    def _build_network(self, n_features: int, n_outputs: int) -> nn.Module:
        n_numeric, cardinalities = split_layout(self.layout_, n_features)
        bins = None if self.bins_ is None else [torch.from_numpy(b) for b in self.bins_]
        return TabMNetwork(
            n_numeric,
            cardinalities,
            n_outputs,
            bins=bins,
            d_embedding=self.d_embedding,
            k=self.k_,
            n_blocks=self.n_blocks_,
            d_block=self.d_block_,
            dropout=self.dropout,
            arch_type=self.arch_type,
            texts=text_blocks(self.layout_),
            text_embedding_dim=self.text_embedding_dim,
        )


def tabm(task: str, *, random_state: int = 0, **hyper: Any) -> TabularModel:
    """Factory named by conf/model/tabm.yaml: quantile-normal numbers, category codes, token
    ids of text columns (`deep.token_ids`), TabM."""
    text = token_ids(hyper)
    return TabularModel(
        family="deep",
        task=task,
        preprocessor=quantile_codes(random_state, text),
        estimator=LightningTabM(task=task, random_state=random_state, **hyper),
    )


# The size preset follows the training rows: refits on fewer rows keep the final fit's.
tabm.pinned_for_rows = pinned_size
