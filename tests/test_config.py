"""The configuration: conf/ composes, params.yaml matches it, every model instantiates."""

import subprocess
import sys

import pytest
import yaml
from hydra.errors import InstantiationException

from bakeoff.models import build_model
from bakeoff.models.tabular import TabularModel
from bakeoff.params import check_params, compose_conf, diff_configs, params_from_mapping
from conftest import PROJECT_ROOT
from pipeline_project import DEFAULT_LINE_UP, FULL_LINE_UP

CONF = PROJECT_ROOT / "conf"
MODEL_FILES = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


def test_committed_params_match_conf():
    assert check_params(CONF, PROJECT_ROOT / "params.yaml") == []


def test_diff_configs_names_keys():
    expected = {"a": 1, "m": {"lr": 0.1, "x": 1}}
    actual = {"a": 1, "m": {"lr": 0.2}, "extra": 0}
    assert diff_configs(expected, actual) == [
        "extra: in params.yaml but not in conf/",
        "m.lr: conf/ has 0.1, params.yaml has 0.2",
        "m.x: in conf/ but missing from params.yaml",
    ]


def test_stale_params_are_detected(tmp_path):
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["models"]["mlp"]["lr"] = 0.5
    stale = tmp_path / "params.yaml"
    stale.write_text(yaml.safe_dump(params))
    assert check_params(CONF, stale) == ["models.mlp.lr: conf/ has 0.001, params.yaml has 0.5"]


# Every model file is in the full line-up (conf/lineup/full.yaml), or, for image models, in
# an image card's (cnn_pretrained, which needs a weights file, only when added), or, for text
# models, in a text card's plus conf/lineup/text_finetune.yaml.
OPT_IN = ["+model@models.cnn_pretrained=cnn_pretrained"]
LINE_UPS = {
    "tabular": compose_conf(CONF, ["lineup=full"])["models"],
    "image": compose_conf(CONF, ["data=digits", *OPT_IN])["models"],
    "text": compose_conf(CONF, ["data=rotten_tomatoes", "lineup=text_finetune"])["models"],
}


@pytest.mark.parametrize("name", MODEL_FILES)
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_model_config_composes_and_instantiates(name, task):
    configs = [models[name] for models in LINE_UPS.values() if name in models]
    assert configs, f"conf/model/{name}.yaml is in no line-up"
    model = build_model(configs[0], task)
    assert isinstance(model, TabularModel)
    assert model.task == task


def test_overrides_reach_the_typed_params():
    params = params_from_mapping(
        compose_conf(CONF, ["seed=7", "models.random_forest.n_estimators=5"])
    )
    assert params.seed == 7
    assert params.models["random_forest"]["n_estimators"] == 5
    assert params.models["random_forest"]["random_state"] == 7  # one seed, passed everywhere
    assert params.models["mlp"]["trainer"]["accelerator"] == "auto"


def test_unknown_model_target_fails_clearly():
    with pytest.raises(InstantiationException, match="no_such_factory"):
        build_model({"_target_": "bakeoff.models.classical.no_such_factory"}, "classification")


def test_importing_the_package_and_training_classical_models_skips_torch_and_optuna():
    """Composing conf/ loads every Hydra plugin (ours included), so the Optuna sweeper must
    import optuna only when it sweeps."""
    code = (
        "import sys, pandas as pd, numpy as np\n"
        "import bakeoff, bakeoff.stages.contestant, bakeoff.stages.compare, bakeoff.tracking.serving\n"
        "from bakeoff.params import compose_conf\n"
        "from bakeoff.models import build_model\n"
        f"cfg = compose_conf(__import__('pathlib').Path({str(CONF)!r}))\n"
        "X = pd.DataFrame({'a': np.arange(40.0), 'b': np.arange(40.0) % 3})\n"
        "y = (X.a > 20).astype(int)\n"
        "for name, c in cfg['models'].items():\n"
        "    if c['_target_'].startswith('bakeoff.models.classical'):\n"
        "        build_model(c, 'classification').fit(X, y).predict(X)\n"
        "heavy = sorted(m for m in ('torch', 'lightning', 'optuna') if m in sys.modules)\n"
        "assert 'hydra_plugins.bakeoff_optuna_sweeper' in sys.modules\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "trainer").glob("*.yaml")))
def test_every_trainer_config_composes_into_the_deep_models(name):
    from bakeoff.models.deep import TRAINER_DEFAULTS

    models = compose_conf(CONF, [f"trainer={name}", "lineup=full"])["models"]
    assert models["mlp"]["trainer"].keys() <= TRAINER_DEFAULTS.keys()
    # Every network gets exactly the chosen file's settings.
    chosen = yaml.safe_load((CONF / "trainer" / f"{name}.yaml").read_text())
    assert all(models[m]["trainer"] == chosen for m in ("mlp", "resnet", "ft_transformer"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("split.method=hashed", "split.method must be one of"),
        ("split.test_size=0.9", "must leave rows for training"),
        ("drift.action=halt", "drift.action must be one of"),
    ],
)
def test_bad_settings_fail_when_params_are_read_not_stages_later(override, message):
    with pytest.raises(ValueError, match=message):
        params_from_mapping(compose_conf(CONF, [override]))


def test_the_registered_model_is_named_in_one_place():
    assert params_from_mapping(compose_conf(CONF)).registered_model == "breast_cancer"
    named = params_from_mapping(compose_conf(CONF, ["promote.registered_model=tumours"]))
    assert named.registered_model == "tumours"


def test_the_default_line_up_suits_a_cpu_and_the_full_one_adds_every_other_model():
    default = compose_conf(CONF)["models"]
    full = compose_conf(CONF, ["lineup=full"])["models"]
    assert list(default) == DEFAULT_LINE_UP
    assert list(full) == FULL_LINE_UP
    # Every tabular model of conf/model/ is in the full line-up (images and text bring
    # their own).
    tabular = {
        p.stem
        for p in (CONF / "model").glob("*.yaml")
        if not p.stem.startswith("cnn") and "text" not in p.stem and "tfidf" not in p.stem
    } - {"fasttext"}
    assert tabular == set(full)
    assert full["ft_transformer"]["_target_"] == "bakeoff.models.tabular_nets.ft_transformer"
