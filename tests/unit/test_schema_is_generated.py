"""The committed protobuf modules must match what `make proto` generates from proto/."""

from __future__ import annotations

from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO_ROOT / "proto"
SCHEMA_DIR = REPO_ROOT / "gateway" / "schema"


def test_generated_python_and_stubs_are_up_to_date(tmp_path: Path) -> None:
    proto_files = sorted(str(path.relative_to(PROTO_DIR)) for path in PROTO_DIR.rglob("*.proto"))
    assert proto_files, "no .proto files found"
    status = protoc.main(
        ["protoc", f"-I{PROTO_DIR}", f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", *proto_files]
    )
    assert status == 0
    generated = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*_pb2.py*"))
    assert generated
    stale = [str(path) for path in generated if (SCHEMA_DIR / path).read_bytes() != (tmp_path / path).read_bytes()]
    assert stale == [], f"run `make proto` and commit: stale {stale}"


CTRADER_MESSAGES = Path("collectors") / "ctrader" / "messages"


def test_vendored_ctrader_messages_are_generated_from_their_protos(tmp_path: Path) -> None:
    proto_files = sorted(str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / CTRADER_MESSAGES).glob("*.proto"))
    assert len(proto_files) == 4, proto_files
    status = protoc.main(
        ["protoc", f"-I{REPO_ROOT}", f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", *proto_files]
    )
    assert status == 0
    generated = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*_pb2.py*"))
    assert len(generated) == 8
    stale = [str(path) for path in generated if (REPO_ROOT / path).read_bytes() != (tmp_path / path).read_bytes()]
    assert stale == [], f"run `make proto` and commit: stale {stale}"
