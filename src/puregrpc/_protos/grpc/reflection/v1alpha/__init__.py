"""Generated code for the grpc.reflection.v1alpha .proto package (see puregrpc._protos)."""
