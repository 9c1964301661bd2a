"""Bundle dicts (the bundle.json contract) to and from the Bundle message."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from metalab.v1 import types_pb2

OUTPUT_ONLY = ("path",)


def to_message(bundle: dict[str, Any], path: str = "") -> types_pb2.Bundle:
    message = types_pb2.Bundle()
    json_format.ParseDict(bundle, message, ignore_unknown_fields=True)
    if path:
        message.path = path
    return message


def to_dict(message: types_pb2.Bundle) -> dict[str, Any]:
    data: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    for key in OUTPUT_ONLY:
        data.pop(key, None)
    return data
