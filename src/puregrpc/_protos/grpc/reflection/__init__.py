"""Generated code for the grpc.reflection .proto package (see puregrpc._protos)."""
