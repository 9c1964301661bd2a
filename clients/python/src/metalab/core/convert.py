"""Bundle dicts (the bundle.json contract) to and from the Bundle message."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from metalab.v1 import types_pb2

OUTPUT_ONLY = ("path",)
# JSON renders 64-bit integers as strings; bundle.json (and the code reading it) has numbers.
_INT64_FIELDS = frozenset(
    field.name
    for field in types_pb2.ServiceHandle.DESCRIPTOR.fields
    if field.cpp_type in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64)
)


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
    for handle in data.get("services", {}).values():
        for key in _INT64_FIELDS & handle.keys():
            handle[key] = int(handle[key])
    return data
