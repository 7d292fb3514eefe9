"""Generated code for the grpc.reflection.v1 .proto package (see puregrpc._protos)."""
