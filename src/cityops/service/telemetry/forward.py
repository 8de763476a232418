"""HTTP readings handed to the ingesting worker (``CITYOPS_TELEMETRY_HTTP_FORWARD``).

One alarm engine per deployment must see every reading, so an API beside a ``cityops mqtt``
worker does not ingest what is posted to it: it checks each message as ingest would
(``Ingestor.screen``: the same decode, registry and cleaning, the same reasons), publishes
the good points to the broker the worker consumes and, once the broker acknowledged them,
writes the dead letters of the bad parts. A broker that is down, refuses or is slow to
acknowledge is a :class:`ForwardUnavailable` with no dead letter written: the client sends
it all again (packs the broker took after all are stored once: readings are idempotent on
(device, metric, ts)).

The points travel as SenML with absolute times on ``{prefix}/{gateway}``: each pack names
its devices (``bn`` = ``{device}:``, ``n`` the metric, ``u`` the series' unit), so the
worker's decode reads the same points back, and the dead letters it may still write name the
gateway (``mqtt:{prefix}/{gateway}``).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import orjson

from cityops.adapters.mqtt import BrokerUnavailable, Publisher, mqtt_config
from cityops.config import Settings
from cityops.domain.errors import Unavailable
from cityops.service.telemetry.decode import RawMessage
from cityops.service.telemetry.ingest import F64, I64, IngestResult
from cityops.service.telemetry.registry import RegistrySnapshot

if TYPE_CHECKING:
    from cityops.service.telemetry.ingest import Ingestor

PACK_POINTS = 5000  # records per published pack: a few hundred KiB at most
PUBACK_TIMEOUT_S = 5.0
RETRY_AFTER_S = 5
_RESERVED = re.compile(r"[/+#\x00]")  # a topic level holds none of these


class ForwardUnavailable(Unavailable):
    """The broker did not take the readings; nothing was written (HTTP 503, Retry-After)."""

    code = "telemetry_forward_unavailable"


@dataclass(slots=True)
class Forwarded:
    """A request's outcome: each message's result (``accepted`` = points forwarded) and the
    points published in all."""

    result: IngestResult
    forwarded: int


def gateway_level(source: str) -> str:
    """The topic level naming who posted: the gateway of ``http:{gateway}`` (an admin's
    ``http:user:{name}`` keeps its ``user:`` form), MQTT's reserved characters as ``_``."""
    return _RESERVED.sub("_", source.removeprefix("http:")) or "http"


def forward_topic(prefix: str, source: str) -> str:
    return f"{prefix.rstrip('/')}/{gateway_level(source)}"


def senml_packs(snap: RegistrySnapshot, k: I64, ts: I64, value: F64,
                max_points: int = PACK_POINTS) -> list[bytes]:  # fmt: skip
    """Points as SenML packs with absolute times (epoch seconds), grouped by series; ``bn``
    names the device where its run of records starts."""
    order = np.argsort(k, kind="stable").tolist()
    packs: list[bytes] = []
    for start in range(0, len(order), max_points):
        records: list[dict[str, object]] = []
        device = None
        for i in order[start : start + max_points]:
            j = int(k[i])
            record: dict[str, object] = {"n": snap.metric[j], "u": snap.unit[j],
                                         "t": int(ts[i]) / 1000, "v": float(value[i])}  # fmt: skip
            code = snap.device_of[j].code
            if code != device:
                record, device = {"bn": f"{code}:", **record}, code
            records.append(record)
        packs.append(orjson.dumps(records))
    return packs


def _source_of(messages: list[RawMessage]) -> str:
    sources = {m.source for m in messages}
    if len(sources) != 1:  # one request, one sender: the topic names it
        raise ValueError(f"one sender per forwarded request, not {sorted(sources)}")
    return sources.pop()


class HttpForwarder:
    """This API process's one connection to the broker (connected on first use, shared by
    concurrent requests; blocking: call it off the event loop)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.mqtt_url is not None  # Settings refuses forwarding without a broker
        self.cfg = mqtt_config(settings)  # the worker's broker and prefix, as it reads them
        # Unique per process: two API replicas with one client id would take turns
        # disconnecting each other. No session to keep (the worker's session holds the queue).
        client_id = f"{settings.mqtt_client_id}-http-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.publisher = Publisher(self.cfg, client_id)
        self.publisher.start()

    def forward(self, ingestor: Ingestor, messages: list[RawMessage]) -> Forwarded:
        screened = ingestor.screen(messages)
        if len(screened.k):
            packs = senml_packs(screened.snapshot, screened.k, screened.ts, screened.value)
            topic = forward_topic(self.cfg.topic_prefix, _source_of(messages))
            try:
                self.publisher.publish_confirmed(topic, packs, PUBACK_TIMEOUT_S)
            except BrokerUnavailable as exc:
                raise ForwardUnavailable(
                    f"the readings could not be handed to the ingesting worker ({exc}); "
                    "nothing was kept, send them again", retry_after=RETRY_AFTER_S,
                ) from None  # fmt: skip
        ingestor.record_dead_letters(screened.result, messages)  # only after the broker took it
        return Forwarded(screened.result, len(screened.k))

    def close(self) -> None:
        self.publisher.stop()
