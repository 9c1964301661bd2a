"""Generated gRPC contracts (metalab.v1). Do not edit: run scripts/gen_protos.py."""
