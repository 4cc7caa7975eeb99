"""Algorithm research: write a new data-consistency module and a new operator.

A data-consistency module is a ``flax.struct.PyTreeNode`` with a ``posterior_denoise(denoiser, x,
sigma, sigma_next, key)`` method (see ``recon/diffusion/consistency.py``); any sampler then uses it.
Here: a few steps of gradient descent on ``||A x - y||²`` from the denoised estimate (a cheaper
cousin of DDS's CG step), on a new operator (a blur written as a plain JAX function, whose exact
adjoint comes from ``jax.linear_transpose``), with an exact Gaussian prior so the script runs
without trained weights. Swap in ``models.load_prior("ct-ellipses")`` for a learned prior.
"""

import jax
import jax.numpy as jnp
from flax import struct

from models.gaussian import GaussianDenoiser
from operators.linop import FunctionOperator, LinearOperator, estimate_norm
from recon.diffusion.consistency import DataConsistency
from recon.diffusion.posterior import DiffusionConfig, noise_levels
from recon.diffusion.samplers import ddim, initial_noise, posterior_samples

N = 32


def blur(x):
    kernel = jnp.array([0.25, 0.5, 0.25], x.dtype)
    x = jax.vmap(lambda r: jnp.convolve(r, kernel, mode="same"))(x)
    return jax.vmap(lambda c: jnp.convolve(c, kernel, mode="same"), 1, 1)(x)


A = FunctionOperator(blur, (N, N), jnp.float32)

# the adjoint is exact: <A x, y> == <x, A^H y>
kx, ky = jax.random.split(jax.random.PRNGKey(0))
x, y = jax.random.normal(kx, (N, N)), jax.random.normal(ky, (N, N))
print("adjoint mismatch:", float(jnp.vdot(A(x), y) - jnp.vdot(x, A.H(y))))


class GradientSteps(DataConsistency):
    A: LinearOperator
    y: jax.Array
    step: jax.Array
    steps: int = struct.field(pytree_node=False, default=3)

    def posterior_denoise(self, denoiser, x, sigma, sigma_next, key):
        x0 = denoiser(x, sigma)
        for _ in range(self.steps):
            x0 = x0 - self.step * self.A.H(self.A(x0) - self.y)
        return x0


truth = jnp.zeros((N, N)).at[8:24, 10:20].set(1.0)
measured = A(truth) + 0.01 * jax.random.normal(jax.random.PRNGKey(1), (N, N))
prior = GaussianDenoiser(mean=jnp.full((N, N), 0.3), var=jnp.asarray(0.1))
dc = GradientSteps(A, measured, step=1.0 / estimate_norm(A, jax.random.PRNGKey(2)) ** 2)
sigmas = noise_levels(DiffusionConfig(sigma_max=5.0), 30)


def sample(key):
    k0, k1 = jax.random.split(key)
    return ddim(prior, dc, sigmas, initial_noise(k0, (N, N), jnp.float32, sigmas[0]), k1)


mean, std, _ = jax.jit(lambda k: posterior_samples(sample, k, 8))(jax.random.PRNGKey(3))
print("posterior mean error:", float(jnp.linalg.norm(mean - truth) / jnp.linalg.norm(truth)))
print("mean posterior std:", float(jnp.mean(std)))
