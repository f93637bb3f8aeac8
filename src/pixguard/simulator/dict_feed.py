"""The DICT mirror's messages: keys registered and fraud marks made during a simulation, one message
per row of key_registry or dict_marks (schema: pixguard.domain.schema.KEY_REGISTRY_FIELDS, DICT_MARK_FIELDS)."""

from __future__ import annotations

import json

import pandas as pd

from pixguard.simulator.generator import iso_millis
from pixguard.simulator.population import Population


def key_messages(new_keys: pd.DataFrame, population: Population) -> list[tuple[bytes, bytes]]:
    owners = population.document[new_keys["owner"].to_numpy(dtype="int64")]
    created = iso_millis(new_keys["created_at"])
    return [
        (key.encode(), json.dumps({"key": key, "key_type": kind, "owner_document": owner, "created_at": at}).encode())
        for key, kind, owner, at in zip(new_keys["key"], new_keys["key_type"], owners, created, strict=True)
    ]


def mark_messages(marks: pd.DataFrame) -> list[tuple[bytes, bytes]]:
    marked = iso_millis(marks["marked_at"])
    return [
        (value.encode(), json.dumps({"marked_value": value, "mark_type": kind, "marked_at": at}).encode())
        for value, kind, at in zip(marks["marked_value"], marks["mark_type"], marked, strict=True)
    ]
