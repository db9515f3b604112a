"""Builds the Cython modules in gateway/_fast/ (each .pyx has a pure-Python twin, see gateway/_fast/__init__.py)."""

import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension("gateway._fast." + os.path.splitext(os.path.basename(path))[0], [path], extra_compile_args=["-O2"])
    for path in sorted(glob.glob("gateway/_fast/*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False, "cdivision": True},
        annotate=bool(os.environ.get("GATEWAY_CYTHON_ANNOTATE")),
    )
)
