"""Text in the networks trained from scratch: the word and bigram ids, fastText, and text
columns beside numbers and categories in the MLP, ResNet, FT-Transformer and TabM."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest

from bakeoff.models import deep, tabm, tabular_nets
from bakeoff.models.deep import LightningMLP, TextBags
from bakeoff.models.text_features import PAD_ID, TokenIds
from conftest import reviews

CPU = {"accelerator": "cpu", "devices": 1}
KINDS = {"review": "text", "runtime": "numeric", "genre": "categorical"}
SMALL = {"batch_size": 32, "max_epochs": 40, "patience": 5, "trainer": CPU}


@pytest.fixture(scope="module")
def split():
    frame, y = reviews(400)
    return frame[:240], y[:240], frame[240:320], y[240:320], frame[320:], y[320:]


def test_token_ids_pad_unknown_words_and_bigrams():
    docs = pd.Series(["good film", "good film", "bad film", "bad plot"])
    tokens = TokenIds(min_count=1, min_bigram_count=2).fit(docs)
    vocab = tokens._tokenizer.get_vocab()
    assert vocab["[PAD]"] == PAD_ID and vocab["[UNK]"] == 1
    ids = tokens.transform(pd.Series(["good film", "zebra", None]))
    words = tokens.n_tokens_
    assert tokens.block_ == {"vocabulary": words + 1, "length": 3}  # 2 words + 1 bigram
    good, film = vocab["good"], vocab["film"]
    assert ids[0].tolist() == [good, film, words]  # "good film" is the one frequent bigram
    assert ids[1].tolist() == [1, PAD_ID, PAD_ID]  # unknown word, no bigram
    assert ids[2].tolist() == [PAD_ID, PAD_ID, PAD_ID]  # missing: an empty document


def test_token_ids_keep_the_first_max_tokens_words_and_their_bigrams():
    docs = pd.Series(["a b c d e f", "a b c d e f"])
    tokens = TokenIds(max_tokens=3, min_count=1, min_bigram_count=1).fit(docs)
    assert tokens.block_["length"] == 3 + 2
    assert (tokens.transform(docs) != PAD_ID).all()
    without = TokenIds(max_tokens=3, min_count=1, bigrams=False).fit(docs)
    assert without.block_["length"] == 3


def test_token_ids_are_the_same_on_every_fit():
    """The vocabulary and its ids must not depend on the run (tokenizers' WordPiece and BPE
    trainers gave different ids on each run)."""
    frame, _ = reviews(300, seed=3)
    first, second = TokenIds().fit(frame["review"]), TokenIds().fit(frame["review"])
    assert first.tokenizer_json_ == second.tokenizer_json_
    np.testing.assert_array_equal(first.bigram_keys_, second.bigram_keys_)


def test_token_ids_rebuild_their_tokenizer_after_pickling(tmp_path):
    frame, _ = reviews(100)
    tokens = TokenIds(min_count=1).fit(frame["review"])
    joblib.dump(tokens, tmp_path / "t.joblib")
    loaded = joblib.load(tmp_path / "t.joblib")
    assert "_tokenizer" not in loaded.__dict__
    np.testing.assert_array_equal(
        loaded.transform(frame["review"]), tokens.transform(frame["review"])
    )


def test_text_bags_average_token_embeddings_leaving_padding_out():
    import torch

    bags = TextBags([{"vocabulary": 5, "length": 3}], dim=4)
    weight = bags.bags[0].weight.detach()
    ids = torch.tensor([[2.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    (out,) = bags(ids)
    torch.testing.assert_close(out[0], (weight[2] + weight[3]) / 2)
    torch.testing.assert_close(out[1], torch.zeros(4))


def test_fasttext_learns_from_the_text_alone(split):
    X, y, X_val, y_val, X_test, y_test = split
    model = deep.fasttext("classification", lr=0.01, **SMALL)
    model.fit(X[["review"]], y, X_val[["review"]], y_val, column_kinds=KINDS)
    layout = model.estimator.layout_
    assert layout["n_numeric"] == 0 and layout["cardinalities"] == []
    assert layout["texts"] == [model.preprocessor.columns_.text_transformers()[0][1].block_]
    assert (model.predict(X_test[["review"]]) == y_test).mean() > 0.85


@pytest.mark.parametrize(
    "factory",
    [
        lambda: deep.mlp("classification", hidden_sizes=(32,), **SMALL),
        lambda: deep.mlp("classification", categorical="one_hot", hidden_sizes=(32,), **SMALL),
        lambda: tabular_nets.resnet("classification", d_main=16, d_hidden=32, n_blocks=1, **SMALL),
        lambda: tabular_nets.ft_transformer(
            "classification", d_token=16, n_blocks=1, lr=3e-3, **SMALL
        ),
        lambda: tabm.tabm("classification", k=4, d_block=32, **SMALL),
        lambda: tabm.tabm("classification", k=4, d_block=32, embeddings="none", **SMALL),
    ],
    ids=["mlp", "mlp-one-hot", "resnet", "ft_transformer", "tabm", "tabm-no-embeddings"],
)
def test_networks_take_text_beside_numbers_and_categories(factory, split):
    X, y, X_val, y_val, X_test, y_test = split
    model = factory().fit(X, y, X_val, y_val, column_kinds=KINDS)
    texts = model.estimator.layout_["texts"]
    assert len(texts) == 1 and texts[0]["length"] > 1
    assert (model.predict(X_test) == y_test).mean() > 0.8
    raw = X_test.head(5).astype(str)
    raw["review"] = X_test["review"].head(5)
    np.testing.assert_allclose(model.predict_proba(raw), model.predict_proba(X_test.head(5)))


def test_tabm_learns_from_the_text_alone_and_keeps_its_members(split):
    X, y, X_val, y_val, X_test, y_test = split
    model = tabm.tabm("classification", k=4, d_block=32, lr=0.01, **SMALL)
    model.fit(X[["review"]], y, X_val[["review"]], y_val, column_kinds=KINDS)
    network = model.estimator.network_
    assert network.n_numeric == 0 and network.text_bags is not None
    import torch

    ids = torch.as_tensor(model.preprocessor.transform(X_test[["review"]].head(3)))
    assert network.eval()(ids).shape == (3, 4, 2)  # (b, k, classes): members kept apart
    assert (model.predict(X_test[["review"]]) == y_test).mean() > 0.85


def test_a_text_network_round_trips_through_joblib(split, tmp_path):
    X, y, X_val, y_val, X_test, _ = split
    model = deep.fasttext("classification", **{**SMALL, "max_epochs": 3})
    model.fit(X, y, X_val, y_val, column_kinds=KINDS)
    joblib.dump(model, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    assert model.requirements() == ["tokenizers"]


def test_text_networks_checkpoint_and_resume(split, tmp_path):
    """The shared base's checkpoints work unchanged: token ids are just float columns."""
    X, y, X_val, y_val, X_test, _ = split
    trainer = {**CPU, "checkpoint_dir": str(tmp_path), "deterministic": True}

    def fit(max_epochs: int, resume: bool):
        settings = {**SMALL, "max_epochs": max_epochs, "patience": 100}
        model = deep.fasttext(
            "classification", **{**settings, "trainer": {**trainer, "resume": resume}}
        )
        return model.fit(X, y, X_val, y_val, column_kinds=KINDS)

    fit(2, resume=False)
    assert {"best.ckpt", "last.ckpt"} <= {p.name for p in tmp_path.iterdir()}
    resumed = fit(4, resume=True)
    assert len(resumed.estimator.history_) == 4
    for p in tmp_path.iterdir():
        p.unlink()
    straight = fit(4, resume=False)
    np.testing.assert_allclose(
        resumed.predict_proba(X_test), straight.predict_proba(X_test), rtol=1e-5
    )


def test_layout_with_text_that_does_not_match_the_matrix_is_rejected():
    X = np.zeros((8, 5), dtype=np.float32)
    layout = {"n_numeric": 1, "cardinalities": [], "texts": [{"vocabulary": 9, "length": 3}]}
    with pytest.raises(ValueError, match=r"1 numeric \+ 0 code columns \+ 3 token-id columns"):
        LightningMLP(trainer=CPU, max_epochs=1).fit(X, np.arange(8) % 2, layout=layout)
