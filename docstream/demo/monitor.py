"""Where each stream stands: for every producer → consumer link, the consumer's cursor and the
producer's head, read from ``docstream.streaming.status`` on both sites."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docstream.demo.client import Client
from docstream.demo.setup import Cluster, DemoSite


@dataclass(frozen=True)
class Link:
    producer: DemoSite
    consumer: DemoSite

    @property
    def label(self) -> str:
        return f"{self.producer.name} → {self.consumer.name}"


@dataclass(frozen=True)
class Position:
    cursor: int
    head: int
    failed: int
    last_error: str | None

    @property
    def caught_up(self) -> bool:
        return self.cursor >= self.head


def links(cluster: Cluster) -> list[Link]:
    return [Link(p, c) for c in cluster.sites for p in cluster.producers_of(c)]


class Monitor:
    """Reads positions with its own clients, so it can run beside the workload's."""

    def __init__(self, cluster: Cluster) -> None:
        self.links = links(cluster)
        self.clients = {s.name: Client(s.url).login("Administrator", s.admin_password) for s in cluster.sites}

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def positions(self) -> dict[Link, Position]:
        status = {name: client.call("docstream.streaming.status") for name, client in self.clients.items()}
        return {link: _position(link, status[link.producer.name], status[link.consumer.name]) for link in self.links}


def _position(link: Link, at_producer: dict[str, Any], at_consumer: dict[str, Any]) -> Position:
    consumer = next((c for c in at_producer["consumers"] if c["callback_url"] == link.consumer.url), {})
    producer = next((p for p in at_consumer["producers"] if p["producer_url"] == link.producer.url), {})
    return Position(int(producer.get("cursor") or 0), int(consumer.get("head") or 0),
                    int(producer.get("failed") or 0) + int(producer.get("held") or 0), producer.get("last_error"))
