"""Builds the optional compiled fast path of HCERT decoding (dho/trust/_hc1fast.pyx). Everything else is
declared in pyproject.toml. The extension is optional: without a C compiler the platform installs and runs
on the pure-Python path, which gives the same verdicts, only slower. It links zlib (zlib1g-dev)."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(ext_modules=cythonize([Extension("dho.trust._hc1fast", ["dho/trust/_hc1fast.pyx"], libraries=["z"],
                                        optional=True)],
                            language_level=3, quiet=True))
