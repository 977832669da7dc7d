"""Build configuration beyond pyproject.toml: MetaKAN's optional fused CPU kernels (pde_kan/nn/_pwkernel.c).

``optional=True``: where no C compiler is available the install still succeeds and MetaKAN runs the same
formulas as torch operations (slower on the CPU, identical results up to summation order).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("pde_kan.nn._pwkernel", ["pde_kan/nn/_pwkernel.c"], optional=True,
                             extra_compile_args=["-O3"])])
