"""The import path models saved by bakeoff 0.1 name: their pickles refer to
`bakeoff.serving.ServedModel` and their MLflow entry file imports
`bakeoff.serving.BakeoffPyfunc`. Kept so that those models (a registry's champion, a DVC
cache entry) still load; new code imports bakeoff.tracking.serving (docs/upgrading.md)."""

from bakeoff.tracking.serving import BakeoffPyfunc, ServedModel

__all__ = ["BakeoffPyfunc", "ServedModel"]
