"""Feature-level tier: Fréchet distance between texture-feature distributions.

Choice. The Fréchet (2-Wasserstein between Gaussians) distance of Heusel et al. (FID, NeurIPS
2017),

    FD = ||mu_a - mu_b||² + tr(C_a + C_b - 2 (C_a C_b)^{1/2}),

computed not on Inception features (ImageNet weights cannot be downloaded at run time and
describe natural photographs, not MR/CT images) but on fixed, hand-designed *texture* features
of overlapping patches, so that it works offline, has no training set of its own that could
overlap the priors', and each coordinate means something:

- per patch (``patch`` x ``patch`` pixels, stride ``patch // 2``): the mean and the standard
  deviation of the intensity;
- for Gaussian scales ``s = 1, 2, 4`` pixels: the patch mean of the gradient magnitude
  ``|∇(G_s * x)|`` and of the absolute Laplacian ``|Δ(G_s * x)|`` (scale-normalised by ``s`` and
  ``s²``), i.e. the energy of edges and blobs per octave — the quantities that blur removes and
  that noise or invented texture adds (cf. the texture statistics of Portilla & Simoncelli,
  IJCV 2000, of which these are the first-order band energies).

Intensities are divided by one reference level (the 99.5th percentile of all ground truths) for
both sets, so the distance has the units of the normalised image squared. Each set of images is
therefore a cloud of ``N_patches x 8`` points; means and covariances are those of the cloud.

Limits (stated in the report too): the features see local texture and sharpness only, not
anatomy or global shape; the patch cloud of a few test images is small, so values are biased
upwards (compare methods on the same test set, never across sets); patches are not independent;
a method can match these first-order statistics while placing structure wrongly (the pixel and
task tiers cover that). ``scipy.linalg.sqrtm`` (SciPy, well kept) computes the matrix root.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, ndimage

SCALES = (1.0, 2.0, 4.0)
FEATURE_NAMES = ("mean", "std", *(f"{k}_s{s:g}" for s in SCALES for k in ("grad", "lap")))


def _patch_means(img: np.ndarray, patch: int) -> np.ndarray:
    stride = max(patch // 2, 1)
    local = ndimage.uniform_filter(img, patch, mode="reflect")
    h, w = img.shape
    lo, hi_y, hi_x = patch // 2, h - (patch - 1) // 2, w - (patch - 1) // 2
    return local[lo:hi_y:stride, lo:hi_x:stride].ravel()


def texture_features(images: np.ndarray, patch: int = 16, reference: float | None = None
                     ) -> np.ndarray:
    """Texture features of every patch of ``images`` ``(N, H, W)`` real: ``(N_patches, 8)``.

    ``reference`` is the intensity divided out first (default: 99.5th percentile of ``images``).
    """
    images = np.asarray(images, np.float64)
    if images.ndim != 3:
        raise ValueError(f"texture_features: need (N, H, W) real images, found {images.shape}")
    if patch < 4 or patch > min(images.shape[1:]):
        raise ValueError(f"texture_features: patch must be in 4..{min(images.shape[1:])}, "
                         f"got {patch}")
    if reference is None:
        reference = float(np.percentile(images, 99.5))
    images = images / max(float(reference), 1e-12)
    rows = []
    for img in images:
        cols = [_patch_means(img, patch)]
        mean_sq = _patch_means(img**2, patch)
        cols.append(np.sqrt(np.maximum(mean_sq - cols[0] ** 2, 0.0)))
        for s in SCALES:
            cols.append(_patch_means(s * ndimage.gaussian_gradient_magnitude(img, s), patch))
            cols.append(_patch_means(s * s * np.abs(ndimage.gaussian_laplace(img, s)), patch))
        rows.append(np.stack(cols, axis=1))
    return np.concatenate(rows, axis=0)


def frechet_distance(feat_a: np.ndarray, feat_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature clouds ``(n, d)``."""
    feat_a, feat_b = np.asarray(feat_a, np.float64), np.asarray(feat_b, np.float64)
    if feat_a.ndim != 2 or feat_b.ndim != 2 or feat_a.shape[1] != feat_b.shape[1]:
        raise ValueError(f"frechet_distance: need (n, d) clouds of one d, found {feat_a.shape} "
                         f"and {feat_b.shape}")
    if min(len(feat_a), len(feat_b)) < 2:
        raise ValueError("frechet_distance: need at least 2 feature vectors per set")
    mu_a, mu_b = feat_a.mean(0), feat_b.mean(0)
    cov_a = np.atleast_2d(np.cov(feat_a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(feat_b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # singular product: regularise as in FID implementations
        eps = 1e-9 * np.eye(len(cov_a))
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    root = np.real(root)
    fd = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root))
    return max(fd, 0.0)


def texture_frechet(truths: np.ndarray, recons: np.ndarray, patch: int = 16) -> float:
    """Fréchet texture distance between reconstructions and ground truths ``(N, H, W)``,
    both normalised by the ground truths' 99.5th percentile."""
    ref = float(np.percentile(np.asarray(truths), 99.5))
    return frechet_distance(texture_features(truths, patch, ref),
                            texture_features(recons, patch, ref))
