"""Peer harness: the canonical HelloService (hello.proto), Go peers built from grpc-go, and
grpcio peers, for testing puregrpc against other gRPC implementations."""
