"""A table with a text column beside numbers and categories goes through every contestant of
a text card's line-up (conf/config.yaml's, the card's text contestants and
conf/lineup/text_finetune.yaml's) and every other tabular model (conf/lineup/full.yaml's),
each built from its composed config, fitted with the card's kinds, saved as the pyfunc and
loaded back."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from bakeoff.models import build_model
from bakeoff.params import compose_conf
from bakeoff.tracking.serving import ServedModel, save_served_model
from conftest import PROJECT_ROOT, make_tiny_bert, reviews

KINDS = {"review": "text", "runtime": "numeric", "genre": "categorical"}
# Sizes cut for test time; every other value is the composed config's.
SMALL = [
    "trainer=cpu",
    "models.random_forest.n_estimators=20",
    "models.extra_trees.n_estimators=20",
    "models.hist_gradient_boosting.max_iter=20",
    "models.mlp.max_epochs=5",
    "models.resnet.max_epochs=5",
    "models.tabm.max_epochs=5",
    "models.fasttext.max_epochs=5",
    "models.text_encoder_finetuned.max_epochs=1",
    *(
        f"+models.{name}.text_components=8"
        for name in (
            "logreg",
            "knn",
            "svm",
            "random_forest",
            "extra_trees",
            "hist_gradient_boosting",
        )
    ),
]
# Five epochs on 180 rows teach the tabular networks little; tests/models/test_text_nets.py
# checks that they learn from text. The tiny encoder has random weights.
NOT_SCORED = {
    "dummy",
    "mlp",
    "resnet",
    "ft_transformer",
    "tabm",
    "text_encoder_frozen",
    "text_encoder_finetuned",
}
# The full line-up's other tabular models, added to the text line-up as a user would.
FULL_ONLY = ["knn", "svm", "extra_trees", "resnet"]
LINE_UP = compose_conf(
    PROJECT_ROOT / "conf",
    [
        "data=rotten_tomatoes",
        "lineup=text_finetune",
        *(f"+model@models.{name}={name}" for name in FULL_ONLY),
        *SMALL,
    ],
)["models"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="module")
def data():
    frame, y = reviews(300)
    frame["label"] = y
    return frame[:180], frame[180:240], frame[240:]


@pytest.mark.parametrize("name", sorted(LINE_UP))
def test_every_contestant_fits_text_numbers_and_categories_and_serves_raw_rows(
    name, data, tiny_bert, tmp_path
):
    train, val, test = data
    config = dict(LINE_UP[name])
    if "pretrained" in config:
        config["pretrained"] = str(tiny_bert)
    if "cache_dir" in config:
        config["cache_dir"] = str(tmp_path / "cache")
    model = build_model(config, "classification")
    X, y = train.drop(columns="label"), train["label"]
    model.fit(X, y, val.drop(columns="label"), val["label"], column_kinds=KINDS)
    assert model.text_columns == ["review"]
    served = ServedModel(model=model, steps=[], target="label")
    (tmp_path / "work").mkdir()
    save_served_model(served, tmp_path / "model", train.head(5), tmp_path / "work")
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    out = loaded.predict(test)  # raw rows as ingested, the target column included
    expected = served.predict_frame(test)
    assert list(out["prediction"]) == list(expected["prediction"])
    np.testing.assert_allclose(out["proba_fresh"], expected["proba_fresh"], atol=1e-5)
    if name not in NOT_SCORED:
        assert (out["prediction"] == test["label"]).mean() > 0.7, name
