"""Operations used by the SDK unit tests (importable by module path)."""


def train(params, seed, capture):
    capture.metric("loss", params.get("lr", 0) * 10 + seed % 3)
    for step in range(3):
        capture.log_metric("acc", step / 3)
    capture.artifact("model.json", {"params": params})
    print("trained", params)
    if params.get("fail"):
        raise ValueError("asked to fail")
