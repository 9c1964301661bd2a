"""Operations used by the SDK unit tests (importable by module path)."""


def train(params, seed, capture):
    capture.metric("loss", params.get("lr", 0) * 10 + seed % 3)
    for step in range(3):
        capture.log_metric("acc", step / 3)
    capture.artifact("model.json", {"params": params})
    print("trained", params)
    if params.get("fail"):
        raise ValueError("asked to fail")


def noop(params, seed, capture):
    capture.metric("x", params.get("i", 0))


def slow(params, seed, capture):
    import time

    time.sleep(params.get("sleep", 1.0))
    capture.metric("x", params.get("i", 0))


def fail_on_three(params, seed, capture):
    print("running", params["i"])
    if params["i"] == 3:
        raise RuntimeError("three is bad")
    capture.metric("x", params["i"])
