"""bakeoff: classical machine learning or deep learning, decided on your own data."""

__version__ = "0.2.0"


def setup_logging() -> None:
    """The stages' log format: level, module, message."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
