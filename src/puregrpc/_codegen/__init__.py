"""Code generation: the ``protoc-gen-puregrpc`` plugin and ``puregrpc generate``.

* `model`: protobuf descriptors -> a small model of the services to generate;
* `printer`: that model -> Python source of a ``<name>_grpc.py`` module;
* `plugin`: the protoc plugin (CodeGeneratorRequest on stdin, CodeGeneratorResponse on stdout);
* `generate`: runs protoc with ``--python_out``, ``--pyi_out`` and the plugin.

Only `plugin` and `generate` need the ``protobuf`` package; nothing here is imported by the
runtime.
"""
