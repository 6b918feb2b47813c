"""bakeoff: classical machine learning or deep learning, decided on your own data."""

__version__ = "0.2.0"


def setup_process() -> None:
    """What every stage and command process starts with: the stages' log format (level,
    module, message), and a quick exit.

    A process that has imported scikit-learn, MLflow, torch and Lightning holds hundreds of
    thousands of objects, and the garbage collector's passes over them at interpreter
    shutdown took seconds per stage. An exit handler moves them out of the collector's sight
    (gc.freeze) so that the shutdown skips those passes. Nothing else changes: the other
    exit handlers (MLflow ending its runs, logging flushing) still run, and module teardown
    still releases and finalizes what the modules hold; only garbage in reference cycles
    left at exit is not collected, which Python does not promise to finalize anyway.
    """
    import atexit
    import gc
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    atexit.register(gc.freeze)
