"""The catalog: every PyTorch build torchup knows, where each fact came from, and
the rules that say whether a build runs on a machine.

- ``torchup.catalog.model``: the data model (``Catalog``, ``Release``, ``Build``...).
- ``torchup.catalog.load``: ``load_catalog()`` (embedded snapshot or refreshed cache).
- ``torchup.catalog.rules``: ``why_not_gpu``, ``why_not_driver``, ``why_not_python``,
  ``why_not_platform``.
- ``torchup.catalog.hardware``: driver tables, GPU names, PCI ids.
- ``torchup.catalog.refresh``: ``torchup catalog refresh`` (the only network use).

See docs/catalog.md.
"""
