"""The forwarding publisher's PUBACK bookkeeping (adapters/mqtt.py ``Publisher``): packet ids
are reused, so a refusal must stand only for the message it answered."""

from __future__ import annotations

from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from cityops.adapters.mqtt import BrokerUnavailable, MqttConfig, Publisher

NO_SUBSCRIBERS, SUCCESS = 0x10, 0x00


def _connected(publisher: Publisher, infos: Iterator[mqtt.MQTTMessageInfo]) -> Publisher:
    """A publisher that believes it is connected and hands out the given message infos."""
    publisher._up = True
    publisher._settled.set()
    publisher.client.publish = lambda *_a, **_k: next(infos)  # type: ignore[method-assign]
    return publisher


def _puback(publisher: Publisher, mid: int, code: int) -> None:
    publisher._published(None, None, mid, ReasonCode(PacketTypes.PUBACK, identifier=code), None)


def test_a_refusal_fails_the_request_it_answers() -> None:
    refused = mqtt.MQTTMessageInfo(7)
    pub = _connected(Publisher(MqttConfig("127.0.0.1"), "t-refused"), iter([refused]))
    _puback(pub, 7, NO_SUBSCRIBERS)  # paho calls on_publish, then marks it published
    refused._set_as_published()
    with pytest.raises(BrokerUnavailable, match="0x10"):
        pub.publish_confirmed("t", [b"a"], timeout=0.05)


def test_a_late_refusal_does_not_stand_for_the_next_message_with_its_packet_id() -> None:
    late, reused = mqtt.MQTTMessageInfo(7), mqtt.MQTTMessageInfo(7)
    pub = _connected(Publisher(MqttConfig("127.0.0.1"), "t-late"), iter([late, reused]))
    with pytest.raises(BrokerUnavailable, match="no PUBACK"):  # gave up before the answer
        pub.publish_confirmed("t", [b"a"], timeout=0.05)
    _puback(pub, 7, NO_SUBSCRIBERS)  # the late answer refuses
    _puback(pub, 7, SUCCESS)  # 65,535 ids later the broker takes the id's next message
    reused._set_as_published()
    pub.publish_confirmed("t", [b"b"], timeout=0.05)  # no error: that refusal was not its
