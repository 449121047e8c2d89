"""Laboratory methods engine: GUM uncertainty and Monte Carlo, ISO 5725 precision, ISO 13528
proficiency statistics, ISO Guide 35 reference materials, SPC and ANOVA.

Pure numpy/scipy; it imports nothing from Django or the platform apps. Import the submodule you need
(``qslab.methods.uncertainty``, ``qslab.methods.precision``, ...).
"""
