from dho.audit import hooks as _hooks  # noqa: F401  (installs the flush hook)
