"""Bundle dict ↔ message conversion keeps bundle.json's types (64-bit integers stay numbers)."""

from metalab.core.convert import to_dict, to_message


def test_round_trip_keeps_integer_fields() -> None:
    bundle = {
        "project": "p",
        "environment": "local",
        "state": "ready",
        "services": {
            "postgres": {"host": "127.0.0.1", "port": 5, "pid": 7, "start_time": 123456789012},
            "atlas": {"host": "127.0.0.1", "port": 6, "pid": 8, "start_time": 42, "pgid": 8},
        },
    }
    back = to_dict(to_message(bundle, path="/x/bundle.json"))
    assert back["services"] == bundle["services"]
    assert "path" not in back
