"""Evidence terms of the fit objective, one module each: the inputs a term needs, its weight
from FitConfig, its residual, and its own test (DESIGN.md, "Evidence beyond the learned
features")."""
