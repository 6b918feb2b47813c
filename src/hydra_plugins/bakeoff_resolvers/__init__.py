"""OmegaConf resolvers conf/ uses, registered when Hydra scans the `hydra_plugins` namespace:
in `dvc exp run`'s composition of params.yaml (DVC loads Hydra's plugins first, see DVC's
`hydra.plugins_path`), in the sweeps and in `bakeoff.params.compose_conf` alike.

- `bakeoff_outside_source`: the file a dataset card reads from outside the project when
  it allows that, else data/external (bakeoff.paths.outside_source); conf/config.yaml puts
  it in params.yaml and dvc.yaml lists it as a dependency of `ingest`.
"""

from omegaconf import OmegaConf

from bakeoff.paths import outside_source

OmegaConf.register_new_resolver("bakeoff_outside_source", outside_source, replace=True)
