"""Writes human_identity_reference.npz: real faces cut as each network's chips, and what TF.js computes on them.

Run from the repository root (needs node, ``npm install @tensorflow/tfjs@4.22.0`` in NODE_PATH's reach, the
package tarball and the data sets):

    NODE_PATH=/path/to/node_modules python tests/training/data/make_human_identity_reference.py TARBALL
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from edge.datasets import data_path
from edge.detection import FaceDetector
from edge.identity.embedders import GRAPH_EMBEDDERS, GraphEmbedder
from training.convert.human_identity import NETWORKS, unpack_member

HERE = Path(__file__).resolve().parent
PHOTOS = ["people/angelina_jolie", "people/paul_rudd"]


def main(tarball: Path) -> None:
    detector = FaceDetector(max_side=1280, min_face_px=20)
    frames = []
    for folder in PHOTOS:
        photo = sorted(data_path(f"data/faces/{folder}").iterdir())[0]
        bgr = cv2.imread(str(photo))
        found = detector.detect(bgr)
        k = int(np.argmax((found.boxes[:, 2] - found.boxes[:, 0]) * (found.boxes[:, 3] - found.boxes[:, 1])))
        frames.append((cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), found.boxes[k : k + 1], found.landmarks[k : k + 1]))
    fixture = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in GRAPH_EMBEDDERS.items():
            embedder = GraphEmbedder(spec, backend=None, dim=0)  # only chips() is used here
            chips = np.concatenate([embedder.chips(*frame) for frame in frames])
            x = chips[..., ::-1] if spec.bgr else chips
            x = ((x.astype(np.float32) - np.asarray(spec.mean, np.float32)) * np.float32(spec.scale)).copy()
            network = NETWORKS[name]
            model_json = unpack_member(tarball, network.member, Path(tmp))
            x.tofile(Path(tmp) / "in.f32")
            subprocess.run(
                [
                    "node",
                    str(HERE / "tfjs_reference.js"),
                    str(model_json),
                    str(Path(tmp) / "in.f32"),
                    str(len(x)),
                    str(spec.size),
                    str(spec.size),
                    network.output,
                    str(Path(tmp) / "out.f32"),
                ],
                check=True,
            )
            fixture[f"{name}_chips"] = chips
            fixture[f"{name}_tfjs"] = np.fromfile(Path(tmp) / "out.f32", np.float32).reshape(len(x), -1)
    np.savez_compressed(HERE / "human_identity_reference.npz", **fixture)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
