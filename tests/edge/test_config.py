from pathlib import Path

import pytest

from edge.config import DEMO_VIDEO, ConfigError, Settings, load_settings


def test_defaults_point_at_the_bundled_demo_video():
    s = load_settings(None, environ={})
    assert Path(s.source.uri) == DEMO_VIDEO
    assert DEMO_VIDEO.is_file()
    assert s.server.port == 8080


def test_yaml_and_nested_env_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("camera: door\nserver:\n  port: 9000\ndetector:\n  every_n_frames: 4\n")
    s = load_settings(cfg, environ={"EDGE_SERVER__PORT": "9100", "EDGE_SOURCE__URI": "rtsp://cam/1"})
    assert s.camera == "door"
    assert s.server.port == 9100  # environment wins over the file
    assert s.detector.every_n_frames == 4
    assert s.source.uri == "rtsp://cam/1"


def test_unknown_keys_are_rejected_with_their_path(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("server:\n  prot: 9000\n")
    with pytest.raises(ConfigError, match="server.prot"):
        load_settings(cfg, environ={})
    with pytest.raises(ConfigError, match="detector.bogus"):
        load_settings(None, environ={"EDGE_DETECTOR__BOGUS": "1"})


def test_invalid_values_and_files_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="server.port"):
        load_settings(None, environ={"EDGE_SERVER__PORT": "99999"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml", environ={})


def test_every_field_is_documented():
    def walk(model):
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, Settings.__mro__[1]):
                walk(ann)
            elif name not in ("enabled", "jpeg_quality", "port"):
                assert field.description, f"{model.__name__}.{name} has no description"

    walk(Settings)


def test_a_config_with_the_old_name_of_the_stream_delay_is_refused_with_the_key_named(tmp_path):
    from edge.config import ConfigError, load_settings

    path = tmp_path / "config.yaml"
    path.write_text("render: {overlay: blur-all, privacy_delay_frames: 4}\n")
    with pytest.raises(ConfigError, match="render.privacy_delay_frames: Extra inputs are not permitted"):
        load_settings(path, environ={})
    path.write_text("render: {overlay: blur-all, delay_frames: 4}\n")
    assert load_settings(path, environ={}).render.delay_frames == 4


def test_env_values_of_text_settings_stay_text():
    # A camera index, a numeric camera name and a numeric token are text settings: "0" is not the number 0.
    s = load_settings(
        None,
        environ={
            "EDGE_SOURCE__URI": "0",
            "EDGE_CAMERA": "2",
            "EDGE_SERVER__API_TOKEN": "123456",
            "EDGE_SOURCE__LOOP": "false",
        },
    )
    assert (s.source.uri, s.camera, s.server.api_token) == ("0", "2", "123456")
    assert s.source.loop is False  # other settings are still read by their type
    assert s.source.width is None
    assert load_settings(None, environ={"EDGE_SOURCE__WIDTH": "1280"}).source.width == 1280
