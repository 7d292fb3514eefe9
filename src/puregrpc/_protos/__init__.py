"""Our copies of the standard gRPC .proto files and the code generated from them.

* ``grpc/health/v1/health.proto`` -> ``puregrpc._protos.grpc.health.v1.health_{pb2,grpc}``
* ``grpc/reflection/v1/reflection.proto`` and ``grpc/reflection/v1alpha/reflection.proto`` ->
  ``puregrpc._protos.grpc.reflection.{v1,v1alpha}.reflection_{pb2,grpc}``

The proto packages are exactly upstream's (``grpc.health.v1`` ...), so the services
interoperate. Their descriptors live in `POOL`, a descriptor pool of our own, and not in
protobuf's default pool: grpcio's ``grpc_health.v1.health_pb2`` (or any other copy) declares the
same symbols there, and the default pool refuses a second file declaring them ("duplicate
symbol"), whatever its file name. With a pool of our own, both copies can be imported in one
process. The reflection service looks in the default pool first, then in `POOL`.

The ``_pb2.py``, ``_pb2.pyi`` and ``_grpc.py`` files are generated and committed: after editing a
.proto (or changing the code generator) run
``python -m puregrpc._codegen.regenerate_protos``.
"""

from __future__ import annotations

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
"""Where the generated ``_pb2`` modules of this package register their files."""

PROTO_FILES = (
    "grpc/health/v1/health.proto",
    "grpc/reflection/v1/reflection.proto",
    "grpc/reflection/v1alpha/reflection.proto",
)
"""Our .proto files, by their names in `POOL` (relative to this package's directory)."""
