"""MqttPublisher: the stored events, also published to an MQTT broker (the fleet convention).

Topics, for camera ``door-1`` and the default prefix:

- ``edge/door-1/events``: every event as the same JSON that ``/events`` returns;
- ``edge/door-1/available``: ``online`` when connected, ``offline`` on a clean stop or,
  through the broker's last will, when the device drops off (retained).

paho-mqtt's network thread reconnects on its own; events published while the
broker is away wait in its queue (bounded by ``mqtt.max_queued``). SQLite stays
the record: a broker that is down never loses or delays an event there.
"""

from __future__ import annotations

import json
import logging
from typing import Sequence

from edge.config import MqttConfig
from edge.types import Event

log = logging.getLogger(__name__)


class MqttPublisher:
    """Publishes each event to ``<prefix>/<its camera>/events``; see the module docstring."""

    def __init__(self, cfg: MqttConfig, cameras: Sequence[str]) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError as exc:  # pragma: no cover - a dependency; only a broken install lacks it
            raise RuntimeError("mqtt.enabled needs the paho-mqtt package: pip install paho-mqtt") from exc
        self.cfg = cfg
        self.cameras = list(cameras)
        # A broker keeps one last will per connection: the first camera's topic carries the device's.
        self.available_topics = [self._topic(camera, "available") for camera in self.cameras]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-{self.cameras[0]}")
        if cfg.username:
            self.client.username_pw_set(cfg.username, cfg.password)
        self.client.will_set(self.available_topics[0], "offline", qos=1, retain=True)
        self.client.max_queued_messages_set(cfg.max_queued)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect_async(cfg.host, cfg.port, keepalive=30)
        self.client.loop_start()

    @property
    def connected(self) -> bool:
        return bool(self.client.is_connected())

    def _topic(self, camera: str, what: str) -> str:
        return f"{self.cfg.topic_prefix}/{camera}/{what}"

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            self.client.publish(self._topic(event.camera, "events"), json.dumps(event.as_dict()), qos=self.cfg.qos)

    def close(self) -> None:
        if self.connected:
            for topic in self.available_topics:
                self.client.publish(topic, "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, reason_code)
            return
        topics = ", ".join(self._topic(camera, "events") for camera in self.cameras)
        log.info("MQTT: connected to %s:%d, events on %s", self.cfg.host, self.cfg.port, topics)
        for topic in self.available_topics:
            client.publish(topic, "online", qos=1, retain=True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code != 0:
            log.warning("MQTT: lost the broker (%s); reconnecting", reason_code)
