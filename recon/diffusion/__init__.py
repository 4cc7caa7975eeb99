"""Diffusion-prior reconstruction: data-consistency modules and samplers (DESIGN.md, four parts).

- a denoiser ``D(x, sigma)`` (any callable; trained ones come from ``models``),
- a noise schedule (an array of decreasing sigmas ending in 0),
- a data-consistency module (:mod:`recon.diffusion.consistency`) that works for any
  :class:`operators.linop.LinearOperator`,
- a sampler (:mod:`recon.diffusion.samplers`): a pure ``lax.scan`` over noise levels.
"""
