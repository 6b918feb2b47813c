"""A Hydra sweeper that asks Optuna (4 and later) for each batch of trials.

Search spaces use the grammar of Hydra's own Optuna sweeper, so its documentation applies:

    model.lr: tag(log, interval(1e-4, 1e-2))     # float, log scale
    model.max_leaf_nodes: tag(int, log, interval(8, 256))
    model.n_neighbors: range(5, 60, 5)           # ints, stop excluded as in Hydra
    model.weights: choice(uniform, distance)

Trials are launched in batches of `n_jobs` through the configured launcher (joblib for
local processes, submitit for SLURM), so parallelism is the launcher's. A trial whose job
raises, or returns None or a non-finite value, is told to Optuna as FAILED and the sweep
goes on. `n_trials` and `timeout` (seconds; no new batch starts after it) are the budget.
With `start_from_config`, trial 0 is the composed config's own values (the defaults), so a
tuned model is never worse on the validation split than the untuned one.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
# Optuna is imported where it is used: Hydra imports every plugin module whenever it
# composes a config (each `dvc exp run`, every Hydra app), and `import optuna` costs 0.2-0.8 s.


def search_lines(
    config: DictConfig, params: Any, search: str | None, arguments: list[str]
) -> list[str]:
    """The sweep's overrides in order, later ones winning: the sweeper's `params`, the
    search space in the task config's node `search` (conf/search/<model>.yaml), then the
    command line's."""
    lines = [f"{k}={v}" for k, v in (params or {}).items()]
    node = OmegaConf.select(config, search, default=None) if search else None
    if node:
        lines += [f"{k}={v}" for k, v in OmegaConf.to_container(node).items()]
    return lines + list(arguments)


def merged_overrides(
    lines: list[str], parser: OverridesParser | None = None
) -> dict[str, Override]:
    """Each key's last override (later lines win), in the order of those last lines."""
    merged: dict[str, Override] = {}
    for override in (parser or OverridesParser.create()).parse_overrides(lines):
        merged.pop(override.get_key_element(), None)
        merged[override.get_key_element()] = override
    return merged


def contains(dist: optuna.distributions.BaseDistribution, value: Any) -> bool:
    """Whether `value` is a point of the distribution (so it can be enqueued)."""
    import optuna

    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return value in dist.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if not dist.low <= value <= dist.high:
        return False
    step = getattr(dist, "step", None)
    return step is None or math.isclose((value - dist.low) / step, round((value - dist.low) / step))


def distribution(override: Override) -> optuna.distributions.BaseDistribution | str:
    """An Optuna distribution for a sweep override; a fixed override's value as a string."""
    import optuna

    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    value = override.value()
    if override.is_choice_sweep() or (isinstance(value, RangeSweep) and value.shuffle):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        return optuna.distributions.CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        step = value.step if value.step is not None else 1
        if any(isinstance(x, float) for x in (value.start, value.stop, step)):
            return optuna.distributions.FloatDistribution(value.start, value.stop, step=step)
        # Hydra's range excludes its stop; Optuna's bounds are inclusive.
        high = value.start + (value.stop - value.start - 1) // step * step
        return optuna.distributions.IntDistribution(value.start, high, step=step)
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if "int" in value.tags:
            return optuna.distributions.IntDistribution(
                int(value.start), int(value.end), log=log_scale
            )
        return optuna.distributions.FloatDistribution(value.start, value.end, log=log_scale)
    raise ValueError(f"{override.input_line}: the Optuna sweeper cannot search this sweep")


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        *,
        direction: str,
        n_trials: int,
        n_jobs: int = 1,
        timeout: float | None = None,
        sampler: Any = None,
        storage: str | None = None,
        study_name: str | None = None,
        params: dict[str, str] | None = None,
        search: str | None = None,
        start_from_config: bool = True,
    ) -> None:
        super().__init__()
        if n_trials < 1 or n_jobs < 1:
            raise ValueError(f"n_trials ({n_trials}) and n_jobs ({n_jobs}) must be at least 1")
        self.direction = direction
        self.n_trials, self.n_jobs, self.timeout = n_trials, n_jobs, timeout
        self.sampler_config, self.storage, self.study_name = sampler, storage, study_name
        self.params = dict(params or {})
        self.search = search
        self.start_from_config = start_from_config

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def search_space(self, arguments: list[str]) -> tuple[dict[str, Any], list[str]]:
        """Distributions by override key, and the fixed overrides every trial gets.

        Later sources win: the sweeper's `params`, then the task config's search space
        (the node named by `search`), then the command line."""
        lines = search_lines(self.config, self.params, self.search, arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        space: dict[str, Any] = {}
        fixed: dict[str, str] = {}
        for key, override in merged_overrides(lines, parser).items():
            value = distribution(override)
            (fixed if isinstance(value, str) else space)[key] = value
        return space, [f"{k}={v}" for k, v in fixed.items()]

    def sweep(self, arguments: list[str]) -> optuna.Study:
        import optuna

        space, fixed = self.search_space(arguments)
        sampler = self.sampler_config  # Hydra instantiates nested `_target_`s already
        if sampler is not None and not isinstance(sampler, optuna.samplers.BaseSampler):
            sampler = instantiate(sampler)
        study = optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=sampler,
            direction=self.direction,
            load_if_exists=self.storage is not None,
        )
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        log.info(
            "Optuna %s, %d trials in batches of %d, over %s",
            type(study.sampler).__name__,
            self.n_trials,
            self.n_jobs,
            ", ".join(f"{k}: {v}" for k, v in space.items()) or "nothing (one trial)",
        )
        if not space:
            self.n_trials = 1  # nothing to search: one trial of the fixed config
        elif self.start_from_config and not study.trials:
            current = self.configured_values(space)
            if current:
                study.enqueue_trial(current, skip_if_exists=True)
        deadline = time.monotonic() + self.timeout if self.timeout else math.inf
        launched = 0
        while launched < self.n_trials and time.monotonic() < deadline:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - launched))]
            batch = [fixed + [f"{k}={v}" for k, v in t.params.items()] for t in trials]
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=launched)
            for trial, result in zip(trials, results, strict=True):
                self._tell(study, trial, result)
            launched += len(batch)
        if time.monotonic() >= deadline and launched < self.n_trials:
            log.info("timeout of %s s reached after %d trials", self.timeout, launched)
        self._report(study, sweep_dir)
        return study

    def configured_values(self, space: dict[str, Any]) -> dict[str, Any]:
        """The composed config's values for the searched keys, where the space holds them."""
        values = {}
        for key, dist in space.items():
            value = OmegaConf.select(self.config, key, default=None)
            if OmegaConf.is_config(value):
                value = OmegaConf.to_container(value)
            if isinstance(value, list):  # as the override grammar writes a choice
                value = "[" + ",".join(str(v) for v in value) + "]"
            choices = getattr(dist, "choices", ())
            if value not in choices and str(value) in choices:
                value = str(value)  # e.g. 0.5 configured, '0.5' among the choices
            if contains(dist, value):  # otherwise Optuna samples this key in trial 0 too
                values[key] = value
        return values

    @staticmethod
    def _tell(study: optuna.Study, trial: optuna.Trial, result) -> None:
        import optuna

        try:
            value = result.return_value
        except Exception as exc:  # the job raised: the trial failed, the sweep goes on
            # With its traceback: an app that reports its own failures as a value (bakeoff's
            # sweep returns NaN for a contestant's) reaches here only with a bug to find.
            log.warning(
                "trial %d failed: %s: %s", trial.number, type(exc).__name__, exc, exc_info=exc
            )
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        if value is None or not math.isfinite(float(value)):
            log.warning("trial %d failed: it returned %r", trial.number, value)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        study.tell(trial, float(value))

    def _report(self, study: optuna.Study, sweep_dir: Path) -> None:
        import optuna

        states = [t.state for t in study.trials]
        summary: dict[str, Any] = {
            "name": "optuna",
            "direction": self.direction,
            "trials": len(states),
            "failed": states.count(optuna.trial.TrialState.FAIL),
        }
        if states.count(optuna.trial.TrialState.COMPLETE):
            summary["best_value"] = study.best_value
            summary["best_params"] = study.best_params
            log.info("best value %.6g with %s", study.best_value, study.best_params)
        else:
            log.warning("no trial finished")
        OmegaConf.save(OmegaConf.create(summary), sweep_dir / "optimization_results.yaml")
