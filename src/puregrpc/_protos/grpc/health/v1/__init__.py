"""Generated code for the grpc.health.v1 .proto package (see puregrpc._protos)."""
