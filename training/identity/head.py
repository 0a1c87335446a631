"""``python -m training identity``: train the closed-set identity head on a folder of people.

The seed project fine-tuned InceptionResnetV1's last block as an 11-way
classifier. Here the embedder stays frozen (with a handful of photos per
person, updating a whole block overfits) and the head follows the rest of that
recipe: augmented crops (random resized crop, perspective, flips), dropout
0.2, Adam and StepLR. "Unknown" is a softmax-confidence threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torchvision import transforms
from tqdm import tqdm

from edge.crops import IMAGE_SUFFIXES
from edge.detection import FaceDetector
from edge.identity.embedders import Embedder, embedding_key
from training.identity.photo_faces import largest_face


def augmented_embeddings(
    photos: Sequence[Path], embedder: Embedder, detector: FaceDetector, copies: int, seed: int = 0
) -> np.ndarray:
    """Embeddings of ``copies`` augmented versions of each photo's largest face (plus the original)."""
    torch.manual_seed(seed)
    augment = transforms.Compose(
        [
            transforms.RandomResizedCrop(150, scale=(0.8, 1.0), ratio=(0.9, 1.1)),
            transforms.RandomPerspective(distortion_scale=0.2, p=0.5),
            transforms.RandomHorizontalFlip(),
        ]
    )
    out = []
    for photo in photos:
        found = largest_face(photo, embedder, detector)
        if found is None:
            continue
        chip = found[0]
        size = chip.shape[0]
        variants = [chip] + [
            np.asarray(augment(Image.fromarray(chip)).resize((size, size), Image.BILINEAR)) for _ in range(copies)
        ]
        out.append(embedder.embed_chips(np.stack(variants)))
    return np.concatenate(out) if out else np.zeros((0, embedder.dim), np.float32)


def fit_head(
    features: np.ndarray, labels: np.ndarray, classes: int, epochs: int = 60, lr: float = 0.01, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Dropout 0.2 + linear layer, Adam with StepLR; returns (weight, bias)."""
    torch.manual_seed(seed)
    head = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(features.shape[1], classes))
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.3)
    x, y = torch.from_numpy(features).float(), torch.from_numpy(labels).long()
    # Embeddings are unit vectors with small differences between people: scale them up for the softmax.
    scale = 20.0
    for _ in range(epochs):
        head.train()
        loss = torch.nn.functional.cross_entropy(head(x * scale), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    linear = head[1]
    return (linear.weight.detach().numpy() * scale), linear.bias.detach().numpy()


def train_identity_head(
    data: Path, out: Path, embedder: Embedder, copies: int = 10, threshold: float = 0.7
) -> Dict[str, object]:
    """Train on ``data/<person>/<photos>`` and save the head to ``out``."""
    people = sorted(p for p in Path(data).iterdir() if p.is_dir())
    if len(people) < 2:
        raise ValueError(f"{data} needs folders for at least two people (<person>/<photos>)")
    detector = FaceDetector(max_side=1280, min_face_px=20)
    feats: List[np.ndarray] = []
    labels: List[int] = []
    for k, person in enumerate(tqdm(people, desc="embedding people")):
        photos = sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        f = augmented_embeddings(photos, embedder, detector, copies, seed=k)
        if len(f) == 0:
            raise ValueError(f"no usable face in {person}")
        feats.append(f)
        labels += [k] * len(f)
    weight, bias = fit_head(np.concatenate(feats), np.array(labels), len(people))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "weight": torch.from_numpy(weight),
            "bias": torch.from_numpy(bias),
            "classes": [p.name for p in people],
            "embedder": embedding_key(embedder),
            "threshold": threshold,
        },
        out,
    )
    return {"classes": [p.name for p in people], "samples": len(labels), "out": str(out)}
