"""Quality targets of the default deep configs on real data, trained as the pipeline trains them.

Cards composed from conf/, tables through the pipeline's data stages in memory
(`bakeoff.data.prepare`), models fitted by the train stage's `fit_model`. Adult and California housing come from the shared datasets folder
next to the project and are skipped where it is absent; digits is bundled with sklearn.
"""

from __future__ import annotations

import numpy as np
import pytest

from bakeoff.data.prepare import prepared_splits
from bakeoff.models.fitting import fit_model
from bakeoff.params import compose_conf, params_from_mapping
from conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"


def _fit_and_predict(card: str, model_name: str, overrides: list[str]):
    params = params_from_mapping(compose_conf(PROJECT_ROOT / "conf", [f"data={card}", *overrides]))
    parts, data_card = prepared_splits(params, PROJECT_ROOT)
    target = data_card["target"]
    model, _ = fit_model(
        params.models[model_name],
        task=data_card["task"],
        train=parts["train"],
        val=parts["val"],
        target=target,
    )
    test = parts["test"]
    return model.predict(test.drop(columns=target)), test[target].to_numpy()


def _shared_file(name: str) -> list[str]:
    """The card read in place from the shared folder, outside the project, as a card may
    when it says so (sources refuse such a path otherwise)."""
    path = DATASETS / name
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    return [f"data.source.path={path}", "+data.source.allow_outside_project=true"]


def test_mlp_on_adult_reaches_its_accuracy_target():
    pred, y = _fit_and_predict("adult", "mlp", _shared_file("adult.data"))
    assert (pred == y).mean() >= 0.848


def test_mlp_on_california_housing_reaches_its_rmse_target():
    pred, y = _fit_and_predict("california_housing", "mlp", _shared_file("california_housing.csv"))
    assert np.sqrt(((pred - y) ** 2).mean()) <= 0.52


def test_cnn_on_digits_reaches_its_accuracy_target():
    pred, y = _fit_and_predict("digits", "cnn", [])
    assert (pred == y).mean() >= 0.97
