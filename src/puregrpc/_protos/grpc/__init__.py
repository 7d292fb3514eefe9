"""Generated code for the grpc .proto package (see puregrpc._protos)."""
