import numpy as np
import pytest
import torch

from edge.identity.align import DLIB_CHIP_150, similarity_transform
from edge.identity.embedders import VGGFACE2_SHA256, VggFace2Embedder, fetch_vggface2, load_embedder
from edge.manifest import ModelError, ModelManifest
from tests.conftest import ROOT


def test_similarity_transform_recovers_a_known_warp():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = DLIB_CHIP_150
    dst = (scale * rot @ src.T).T + shift
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], scale * rot, atol=1e-9) and np.allclose(m[:, 2], shift, atol=1e-9)


def test_auto_falls_back_to_the_offline_embedder_without_vggface2_weights():
    emb = load_embedder(ModelManifest(ROOT / "models"), "auto", backend="torch")
    assert emb.name == "face_descriptor_128" and emb.dim == 128
    with pytest.raises(ModelError, match="make models"):
        load_embedder(ModelManifest(ROOT / "models"), "vggface2", backend="torch")
    with pytest.raises(ValueError, match="unknown embedder"):
        load_embedder(ModelManifest(ROOT / "models"), "nope")


@pytest.fixture(scope="module")
def fake_vggface2(tmp_path_factory):
    """A real InceptionResnetV1 state_dict (random weights), saved as the release file would be."""
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "vggface2.pt"
    net = InceptionResnetV1(pretrained=None, classify=True, num_classes=8631)
    torch.save(net.state_dict(), path)
    return path


def test_vggface2_loading_code_on_a_local_file(fake_vggface2, multiface):
    import cv2

    from edge.backends import TorchBackend
    from edge.detection import FaceDetector

    emb = VggFace2Embedder(TorchBackend(VggFace2Embedder.load_network(fake_vggface2)))
    dets = FaceDetector().detect(multiface)
    rgb = cv2.cvtColor(multiface, cv2.COLOR_BGR2RGB)
    chips = emb.chips(rgb, dets.boxes, dets.landmarks)
    assert chips.shape == (6, 160, 160, 3)
    vecs = emb.embed_chips(chips)
    assert vecs.shape == (6, 512) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)


def test_a_wrong_file_is_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"not": torch.zeros(1)}, bad)
    with pytest.raises(ModelError, match="not an InceptionResnetV1"):
        VggFace2Embedder.load_network(bad)


def test_fetch_checks_the_sha256_and_explains_failures(tmp_path, fake_vggface2):
    dest = tmp_path / "models" / "vggface2.pt"
    with pytest.raises(ModelError, match="sha256"):
        fetch_vggface2(dest, url=fake_vggface2.as_uri())  # downloads, but it is not the pinned file
    assert not dest.exists() and not list(dest.parent.glob("*.part"))
    from edge.manifest import sha256_of

    got = fetch_vggface2(dest, url=fake_vggface2.as_uri(), sha256=sha256_of(fake_vggface2))
    assert got.read_bytes() == fake_vggface2.read_bytes()
    with pytest.raises(ModelError, match="could not download"):
        fetch_vggface2(tmp_path / "x.pt", url=(tmp_path / "missing.pt").as_uri())
    assert len(VGGFACE2_SHA256) == 64
