"""The MQTT topic layout (docs/lifeline.md "MQTT") and broker URLs."""

from __future__ import annotations

import pytest

from cityops.adapters.mqtt import MqttConfig, Topic, device_topic, parse_topic

P = "cityops/v1/telemetry"


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (f"{P}/gw-gas/SJ-GPT-0001", Topic("gw-gas", "SJ-GPT-0001", "")),
        (f"{P}/gw-gas", Topic("gw-gas", None, "")),
        (f"{P}/gw-gas/SJ-GPT-0001/senml", Topic("gw-gas", "SJ-GPT-0001",
                                                "application/senml+json")),
        (f"{P}/gw-water/SJ-WP-0001/JSON", Topic("gw-water", "SJ-WP-0001", "application/json")),
        (f"{P}/gw/dev/xml", Topic(None, None, "")),  # an unknown format names nothing
        (f"{P}/gw/dev/senml/extra", Topic(None, None, "")),
        (f"{P}//dev", Topic(None, None, "")),
        (f"{P}/", Topic(None, None, "")),
        ("other/v1/telemetry/gw/dev", Topic(None, None, "")),
        (f"{P}x/gw/dev", Topic(None, None, "")),
    ],
)  # fmt: skip
def test_topics(topic: str, expected: Topic) -> None:
    assert parse_topic(topic, P) == expected


def test_a_custom_prefix_and_the_inverse() -> None:
    assert parse_topic("site-7/ingest/gw/d1", "site-7/ingest/") == Topic("gw", "d1", "")
    assert parse_topic(device_topic("gw-gas", "SJ-GPT-0001")) == Topic("gw-gas", "SJ-GPT-0001", "")


def test_broker_urls() -> None:
    c = MqttConfig.from_url("mqtt://127.0.0.1:1884", client_id="x")
    assert (c.host, c.port, c.tls, c.username, c.client_id) == ("127.0.0.1", 1884, False, None, "x")
    t = MqttConfig.from_url("mqtts://ops:p%40ss@broker.city")
    assert (t.port, t.tls, t.username, t.password) == (8883, True, "ops", "p@ss")
    with pytest.raises(ValueError, match="not an MQTT URL"):
        MqttConfig.from_url("http://broker")


def test_the_settings_name_the_broker_its_ca_and_the_window() -> None:
    from cityops.adapters.mqtt import mqtt_config
    from cityops.config import Settings

    cfg = mqtt_config(Settings(mqtt_url="mqtts://ingest:pw@broker.city.local",
                               mqtt_ca_file="/etc/cityops/city-ca.pem",
                               mqtt_receive_maximum=300))  # fmt: skip
    assert (cfg.host, cfg.port, cfg.tls) == ("broker.city.local", 8883, True)
    assert (cfg.username, cfg.password) == ("ingest", "pw")
    assert cfg.ca_file == "/etc/cityops/city-ca.pem" and cfg.receive_maximum == 300
    assert cfg.topic_filter == "cityops/v1/telemetry/#"
