"""The project's own benchmark: ``make bench``, ``make bench-scale`` and ``make bench-smoke``.

Everything here drives the service from outside, as shipped (``manage.py serve``), with wrk;
only ``bench.inproc`` imports Django, in a subprocess with the server's environment.
See BENCHMARKS.md at the repository root.
"""
