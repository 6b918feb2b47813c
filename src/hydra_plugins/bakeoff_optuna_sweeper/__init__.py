"""bakeoff's Optuna sweeper for Hydra: `python -m bakeoff.cli.sweep -m hydra/sweeper=optuna ...`.

Hydra only instantiates sweepers that live in the `hydra_plugins` namespace package, hence
this package next to `bakeoff`. Why our own sweeper rather than hydra-optuna-sweeper: see
docs/tuning.md.
"""

from hydra_plugins.bakeoff_optuna_sweeper.optuna_sweeper import OptunaSweeper, distribution

__all__ = ["OptunaSweeper", "distribution"]
