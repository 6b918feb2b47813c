"""bakeoff: classical machine learning or deep learning, decided on your own data."""

__version__ = "0.1.0"
