"""Helpers shared by the test modules (never a test module itself): imported as
``from support.xxx import ...`` (pyproject puts tests/ on pytest's ``pythonpath``).

* ``support.h2util``: frames, header blocks and connected pairs for the sans-IO engine.
* ``support.grpc_util``: the ``test.Echo`` service and a running puregrpc server.
* ``support.scripted_server``: a hand-driven HTTP/2 server answering our client any way.
* ``support.tls``: a test PKI (plugin: ``pytest_plugins = ["support.tls"]`` for ``certs``).
* ``support.grpcio_interop``: grpcio as the other side of the interop cases.
* ``support.peers``: the peer harness (grpc-go and grpcio HelloService peers, their build).
* ``support.tools``: ``require_tool``, skipping (or failing in CI) when a peer tool is missing.
"""
