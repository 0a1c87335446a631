"""Our compose.yaml as Debian's docker-compose 1.29 (the Compose implementation installable here) can read it.

The file targets Compose v2 (the README installs it on the Jetson). One key of the Compose spec is newer than
1.29: ``bind.create_host_path``. It is taken out of a copy before 1.29 validates the rest; the tests check
the key itself in the original.
"""

from __future__ import annotations

from pathlib import Path

import yaml

V2_ONLY_BIND_KEYS = ("create_host_path",)


def v1_readable(compose: Path) -> str:
    """The text of ``compose`` without the bind options Compose 1.29 does not know."""
    data = yaml.safe_load(compose.read_text())
    for service in data["services"].values():
        for volume in service.get("volumes", []):
            if isinstance(volume, dict) and isinstance(volume.get("bind"), dict):
                for key in V2_ONLY_BIND_KEYS:
                    volume["bind"].pop(key, None)
                if not volume["bind"]:
                    del volume["bind"]
    return yaml.safe_dump(data, sort_keys=False)
