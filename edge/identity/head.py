"""IdentityHead: the seed project's closed-set classifier on top of the embedder, with an "unknown" output.

A linear layer (after dropout 0.2 in training) maps an embedding to one of
the people it was trained on; a face whose top softmax probability is under
``threshold`` is "unknown". Trained by ``python -m training identity``.
Use it when every person has many photos (tens); with a few photos per person
the gallery is better and needs no training (docs/identity.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from edge.manifest import ModelError
from edge.types import Identity


class IdentityHead:
    """Embeddings -> names (or None) by a trained linear classifier."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, classes: List[str], embedder: str, threshold: float):
        self.weight, self.bias = weight, bias
        self.classes, self.embedder, self.threshold = classes, embedder, threshold

    @classmethod
    def load(cls, path: Path, embedder: str) -> IdentityHead:
        import torch

        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            head = cls(
                data["weight"].numpy(),
                data["bias"].numpy(),
                list(data["classes"]),
                data["embedder"],
                float(data["threshold"]),
            )
        except Exception as exc:  # torch.load raises many types on a file that is not ours
            raise ModelError(f"{path} is not an identity head written by `python -m training identity`: {exc}") from exc
        if head.embedder != embedder:
            raise ModelError(
                f"{path} was trained on {head.embedder} embeddings but {embedder} is running; "
                f"retrain it (python -m training identity) or set identity.embedder to {head.embedder}"
            )
        return head

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = vectors @ self.weight.T + self.bias
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, vectors: np.ndarray) -> List[Identity]:
        out = []
        for p in self.probabilities(vectors):
            k = int(p.argmax())
            out.append(Identity(self.classes[k] if p[k] >= self.threshold else None, float(p[k])))
        return out
