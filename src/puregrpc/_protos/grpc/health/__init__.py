"""Generated code for the grpc.health .proto package (see puregrpc._protos)."""
