"""The deep model on a CUDA GPU, mixed precision. Skipped where no GPU is present."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_mlp_trains_on_gpu_in_bf16():
    from sklearn.datasets import make_classification

    from bakeoff.models.deep import LightningMLP

    X, y = make_classification(n_samples=600, n_features=10, random_state=0)
    X = X.astype(np.float32)
    model = LightningMLP(
        max_epochs=5,
        trainer={"accelerator": "gpu", "devices": 1, "precision": "bf16-mixed"},
    ).fit(X[:400], y[:400], X_val=X[400:], y_val=y[400:])
    assert next(model.network_.parameters()).device.type == "cpu"  # moved back for serving
    assert (model.predict(X[400:]) == y[400:]).mean() > 0.7
