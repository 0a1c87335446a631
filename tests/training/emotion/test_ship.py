import importlib

from edge.models.emotion_net import ARCHITECTURES
from training.convert.fer import FAMILY as FER_FAMILY
from training.convert.human_emotion import FAMILY as HUMAN_FAMILY
from training.emotion.ship import FAMILIES, architecture_text


def test_every_family_a_run_can_hold_can_ship():
    """A run of any --arch, or a converted network, names its family in file names and the manifest; a
    family missing here would fail only at ship time, after hours of training."""
    for arch in [*ARCHITECTURES, FER_FAMILY, HUMAN_FAMILY]:
        family = FAMILIES[arch]
        module, cls = family.where.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), cls), family
    tags = [family.tag for family in FAMILIES.values()]
    assert len(set(tags)) == len(tags)  # file names tell the members apart
    text = architecture_text(["resnet9", "descriptor", "human-big-xception"], [48, 32, 32])
    assert text.startswith("the mean probability of 3 networks: ResNet9 w48, face descriptor trunk w32, Human's")


def test_an_average_stored_in_half_precision_loads_as_the_float_network(tmp_path):
    import torch

    from edge.models.descriptor_emotion import DescriptorEmotionNet
    from edge.models.emotion_net import averaged_state, emotion_net_from_state
    from edge.models.mini_xception import BigXception
    from edge.models.resnet9 import ResNet9
    from training.emotion.ship import stored_half

    torch.manual_seed(0)
    members = [ResNet9(width=8), DescriptorEmotionNet(size=112), BigXception()]
    for m in members:
        torch.nn.init.normal_(next(p for n, p in m.named_parameters() if "classifier" in n), std=0.5)
    state = averaged_state([m.eval().state_dict() for m in members])
    torch.save(stored_half(state), tmp_path / "avg.pt")
    stored = torch.load(tmp_path / "avg.pt", weights_only=True)
    assert stored["members.0.classifier.3.weight"].dtype == torch.float16
    assert stored["members.1.input_size"].item() == 112  # integers stay as they are
    half, full = emotion_net_from_state(stored), emotion_net_from_state(state)
    assert next(half.parameters()).dtype == torch.float32  # computed in float, as before
    x = torch.rand(4, 1, 48, 48)
    with torch.no_grad():
        assert torch.allclose(torch.softmax(half(x), 1), torch.softmax(full(x), 1), atol=2e-3)


def test_the_kept_runs_rebuild_the_shipped_emotion_network_bit_for_bit():
    """``training/checkpoints/`` keeps what reproduces the shipped model: the runs its ``ship_command`` names
    give, averaged and stored as ``ship-emotion`` stores them, exactly the tensors of the shipped file."""
    import shlex

    import torch

    from edge.config import REPO_ROOT
    from edge.manifest import ModelManifest
    from edge.models.emotion_net import averaged_state
    from training.emotion.ship import stored_half

    manifest = ModelManifest(REPO_ROOT / "models")
    words = shlex.split(manifest.entry("emotion")["ship_command"])
    runs = [REPO_ROOT / words[i + 1] for i, word in enumerate(words) if word == "--run"]
    assert len(runs) == 4
    states = [torch.load(run / "model.pt", map_location="cpu", weights_only=True) for run in runs]
    shipped = torch.load(manifest.verified_path("emotion"), map_location="cpu", weights_only=True)
    rebuilt = stored_half(averaged_state(states))
    assert sorted(rebuilt) == sorted(shipped)
    assert all(torch.equal(rebuilt[key], shipped[key]) for key in shipped)
