"""Iterative solvers, each a jit-compatible function of a linear operator returning its iteration
count: :mod:`~recon.solvers.cg` (CG, CG-SENSE), :mod:`~recon.solvers.fista` (FISTA),
:mod:`~recon.solvers.sirt` (SIRT), :mod:`~recon.solvers.cgls` (CGLS) and
:mod:`~recon.solvers.pdhg` (TV by Chambolle-Pock). Import the module you need."""
