"""protoc-generated modules ge_dump_data_pb2, ge_ir_pb2 from src/formats/proto/*.proto, made by the build."""
