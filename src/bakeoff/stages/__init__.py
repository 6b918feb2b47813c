"""The pipeline's stages, one module per stage in dvc.yaml (`python -m bakeoff.stages.<name>`).

Each reads its inputs, calls the library (bakeoff.data, .models, .evaluation, .tracking,
.reporting) and writes its outputs. A stage never imports another stage.
"""
