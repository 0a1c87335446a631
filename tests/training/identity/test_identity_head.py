import shutil

import cv2
import pytest

from edge.analyzer import FaceAnalyzer
from edge.detection import FaceDetector
from edge.identity.embedders import FaceDescriptorEmbedder, embedding_key
from edge.identity.head import IdentityHead
from edge.manifest import ModelError, ModelManifest
from tests.conftest import FACES, ROOT
from training.identity.head import train_identity_head


def test_head_trains_loads_and_names_people(tmp_path, shared):
    data = tmp_path / "people"
    for person in ("kate_siegel", "paul_rudd", "shea_whigham", "angelina_jolie"):
        (data / person).mkdir(parents=True)
        for photo in (FACES / "people" / person).iterdir():
            shutil.copy(photo, data / person / photo.name)
    embedder = FaceDescriptorEmbedder.from_manifest(ModelManifest(ROOT / "models"), backend="torch")
    result = train_identity_head(data, tmp_path / "head.pt", embedder, copies=4)
    assert result["classes"] == ["angelina_jolie", "kate_siegel", "paul_rudd", "shea_whigham"]
    head = IdentityHead.load(tmp_path / "head.pt", embedding_key(embedder))
    analyzer = FaceAnalyzer(FaceDetector(), embedder=embedder, head=head, gallery=None)
    analyzer.gallery = object()  # the head answers; the gallery is not consulted
    # A different photo of Paul Rudd (the aligned crop from another source).
    paul = cv2.copyMakeBorder(
        cv2.imread(str(FACES / "aligned" / "paul_rudd" / "1.png")), 80, 80, 80, 80, cv2.BORDER_REPLICATE
    )
    assert analyzer.analyze_image(paul)[0].identity.name == "paul_rudd"
    with pytest.raises(ModelError, match="retrain it"):
        IdentityHead.load(tmp_path / "head.pt", "vggface2")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ModelError, match="not an identity head"):
        IdentityHead.load(tmp_path / "junk.pt", embedding_key(embedder))
