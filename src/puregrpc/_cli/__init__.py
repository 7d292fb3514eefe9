"""The ``puregrpc`` command line client: ``list``, ``describe``, ``call`` and ``health``.

Entry points live in `puregrpc._cli.main`: ``main(argv)`` (sync, for the ``puregrpc`` script)
and ``run(argv, stdout, stderr, stdin)`` (async, for callers already in an event loop).
"""
