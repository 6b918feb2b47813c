"""A network too large for the machine fails before it trains, as a contestant, with the
estimate in its reason (issue 17: an FT-Transformer on 28x28 pixels was killed by the
operating system and took the bake-off down)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bakeoff.models.fitting import fit_model
from bakeoff.models.memory import NetworkTooLarge, training_bytes
from bakeoff.models.tabular_nets import FTTransformer

PIXELS = 28 * 28
CAP = {"accelerator": "cpu", "max_memory_mb": 8000}


def pixel_splits(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((rows, PIXELS)), columns=[f"p{i}" for i in range(PIXELS)])
    frame["label"] = np.tile(["0", "1"], rows // 2)
    return frame.iloc[: rows // 2], frame.iloc[rows // 2 :]


def test_attention_over_every_pixel_is_estimated_at_its_real_size():
    network = FTTransformer(
        PIXELS, [], 2, d_token=64, n_blocks=2, n_heads=8, ffn_factor=4 / 3,
        attention_dropout=0.2, ffn_dropout=0.1, residual_dropout=0.0,
    )  # fmt: skip
    parts = training_bytes(network, PIXELS, batch_size=256)
    tokens = PIXELS + 1  # and [CLS]
    # A full block's maps (b x heads x t x t, three copies) and the last block's [CLS] row.
    expected = 256 * 8 * (tokens * tokens + tokens) * 4 * 3
    assert parts["attention"] == expected and expected > 14 * 2**30
    assert parts["state"] == 16 * sum(p.numel() for p in network.parameters())


def test_a_network_over_the_memory_cap_fails_before_training_with_the_estimate():
    train, val = pixel_splits(600)  # full batches of 256
    config = {
        "_target_": "bakeoff.models.tabular_nets.ft_transformer",
        "batch_size": 256,
        "max_epochs": 1,
        "trainer": CAP,
    }
    with pytest.raises(NetworkTooLarge) as caught:
        fit_model(config, task="classification", train=train, val=val, target="label")
    message = str(caught.value)
    assert "LightningFTTransformer would need an estimated" in message
    assert "attention maps over 784 features" in message
    assert "more than the 8,000 MB trainer.max_memory_mb" in message
    assert "Lower its batch_size" in message


def test_a_network_within_the_cap_trains():
    train, val = pixel_splits(64)
    config = {"_target_": "bakeoff.models.deep.mlp", "max_epochs": 1, "trainer": CAP}
    model, _ = fit_model(config, task="classification", train=train, val=val, target="label")
    assert model.estimator.history_
