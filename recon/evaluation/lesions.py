"""Task-level tier: inserted low-contrast lesions, their recovery, an observer, hallucinations.

Lesions. Small bright Gaussian-profile blobs ``a exp(-|r - p|² / (2 s²))`` (``s`` = ``sigma``
pixels of the target grid, amplitude ``a`` = ``contrast`` x the local intensity, Gaussian-smoothed
truth at ``p``) are added to held-out ground truths *before* the measurements are simulated
(:mod:`recon.evaluation.data`, on the finer simulation grid as well), at integer positions inside
the object (smoothed truth >= ``min_level`` x max), away from the border and from one another.
No prior was trained on such images. Each test image is simulated twice, with and without its
lesions, with independent measurement noise.

Contrast recovery (per lesion). With ``p`` the true lesion profile in a ``(2h+1)²`` region of
interest, ``p = truth_present - truth_absent``, and ``d = recon_present - recon_absent`` the
reconstructed difference in the same ROI, the least-squares amplitude ratio

    CR = <p, d> / <p, p>

is 1 for a reconstruction that reproduces the lesion, 0 for one that erases it, and is not
biased by the anatomical background, which cancels in ``d`` (up to noise).

Detectability. A non-prewhitening matched-filter observer (Barrett & Myers, *Foundations of
Image Science*, 2004, ch. 13) in the signal-known-exactly / background-known-exactly task: the
test statistic of an ROI is ``t = <w, g - b>`` with ``g`` the reconstruction, ``b`` the
lesion-free ground truth and ``w = p_s - mean(p_s)`` the zero-mean unit-amplitude Gaussian
profile. The observer thus sees only what the reconstruction adds to the true background (noise,
artefacts, the recovered lesion), which is what separates reconstruction methods; anatomical
variability, identical for all methods, is taken out. Signal-present ROIs are the lesion
positions in the lesion reconstructions, signal-absent ROIs the same positions in the lesion-free
reconstructions. We report the area under the ROC curve (Mann-Whitney estimate, ties count 1/2)
and ``d' = (mean_p - mean_a) / sqrt((var_p + var_a) / 2)``. (A channelised Hotelling observer
needs far more ROIs than a few test images give to estimate its channel covariance; the NPW
observer needs none and is the usual choice for few samples.)

Hallucination. Two scores, both on the lesion-free reconstructions, where anything lesion-like is
invented:

- ``false_lesions``: the error ``e = recon - truth`` is filtered with the matched filter scaled to
  estimate a lesion amplitude, ``r = (w ⋆ e) / <w, p_s>``; every local maximum (within the ROI
  size) inside the object with ``r`` above the median inserted amplitude is an invented bright
  blob at least as strong as the lesions the observer is asked to find. Reported per image;
  defined for every method. A perfect reconstruction
  scores 0; noise alone also produces blobs (that is honest: a reader cannot tell them apart).
- ``beyond_std``: the fraction of object pixels where ``|recon - truth| > k x posterior std``
  (``k = 3``); for a calibrated Gaussian posterior about 0.27 %. Larger means structure in the
  reconstruction that the sampler's own uncertainty does not explain. Only for methods with a
  posterior standard deviation (diffusion).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage


@dataclasses.dataclass(frozen=True)
class LesionSet:
    """Lesions of one image: integer ``positions`` ``(n, 2)`` (row, col) on the target grid,
    ``amplitudes`` ``(n,)`` in image units, common Gaussian width ``sigma`` (pixels)."""

    positions: np.ndarray
    amplitudes: np.ndarray
    sigma: float

    @property
    def half(self) -> int:
        """Half-width of the region of interest, ``ceil(3 sigma)``."""
        return roi_half(self.sigma)


def roi_half(sigma: float) -> int:
    return int(np.ceil(3.0 * sigma))


def object_mask(truth: np.ndarray, sigma: float, min_level: float = 0.2) -> np.ndarray:
    """Pixels inside the object: Gaussian-smoothed (scale ``2 sigma``) truth >= ``min_level``
    x its maximum."""
    smooth = ndimage.gaussian_filter(np.asarray(truth, np.float64), 2.0 * sigma)
    return smooth >= min_level * smooth.max()


def place_lesions(
    truth: np.ndarray,
    n: int,
    sigma: float,
    contrast: float,
    rng: np.random.Generator,
    min_level: float = 0.2,
) -> LesionSet:
    """Choose up to ``n`` lesion positions inside the object of ``truth`` (real, 2-D)."""
    truth = np.abs(np.asarray(truth, np.float64))
    if truth.ndim != 2:
        raise ValueError(f"place_lesions: need a 2-D image, found shape {truth.shape}")
    if sigma <= 0 or contrast <= 0:
        raise ValueError(f"place_lesions: need sigma > 0 and contrast > 0, got {sigma}, "
                         f"{contrast}")
    half = roi_half(sigma)
    mask = object_mask(truth, sigma, min_level)
    mask[: half + 1], mask[-half - 1 :], mask[:, : half + 1], mask[:, -half - 1 :] = (
        False, False, False, False)
    # keep lesions off strong edges: local std over the ROI below its median inside the object
    smooth = ndimage.gaussian_filter(truth, 2.0 * sigma)
    local = ndimage.uniform_filter(truth, 2 * half + 1)
    local_sq = ndimage.uniform_filter(truth**2, 2 * half + 1)
    rough = np.sqrt(np.maximum(local_sq - local**2, 0.0))
    if mask.any():
        mask &= rough <= np.median(rough[mask])
    candidates = np.argwhere(mask)
    rng.shuffle(candidates)
    chosen: list[np.ndarray] = []
    for c in candidates:
        if len(chosen) == n:
            break
        if all(np.max(np.abs(c - q)) > 2 * half + 1 for q in chosen):
            chosen.append(c)
    positions = np.asarray(chosen, np.int64).reshape(-1, 2)
    amplitudes = contrast * smooth[positions[:, 0], positions[:, 1]] if len(positions) else (
        np.zeros(0))
    return LesionSet(positions, np.asarray(amplitudes, np.float64), float(sigma))


def lesion_image(shape: tuple[int, int], lesions: LesionSet, scale: float = 1.0,
                 offset: float = 0.0) -> np.ndarray:
    """The lesions sampled on a grid of ``shape``; fine-grid pixel ``k`` sits at target-grid
    coordinate ``(k - offset) / scale`` (``scale = 2`` for a 2x finer simulation grid)."""
    rows = (np.arange(shape[0]) - offset) / scale
    cols = (np.arange(shape[1]) - offset) / scale
    out = np.zeros(shape, np.float64)
    for (py, px), a in zip(lesions.positions, lesions.amplitudes, strict=True):
        gy = np.exp(-((rows - py) ** 2) / (2 * lesions.sigma**2))
        gx = np.exp(-((cols - px) ** 2) / (2 * lesions.sigma**2))
        out += a * np.outer(gy, gx)
    return out


def rois(image: np.ndarray, positions: np.ndarray, half: int) -> np.ndarray:
    """Regions of interest ``(n, 2h+1, 2h+1)`` centred on integer ``positions``."""
    image = np.asarray(image, np.float64)
    out = []
    for py, px in np.asarray(positions, np.int64):
        if not (half <= py < image.shape[0] - half and half <= px < image.shape[1] - half):
            raise ValueError(f"lesion at ({py}, {px}) is closer than {half} px to the border")
        out.append(image[py - half : py + half + 1, px - half : px + half + 1])
    return np.asarray(out).reshape(-1, 2 * half + 1, 2 * half + 1)


def profile(sigma: float) -> np.ndarray:
    """Unit-amplitude Gaussian profile on the ROI grid."""
    h = roi_half(sigma)
    r = np.arange(-h, h + 1)
    g = np.exp(-(r**2) / (2 * sigma**2))
    return np.outer(g, g)


def template(sigma: float) -> np.ndarray:
    """Zero-mean matched-filter template of the non-prewhitening observer."""
    p = profile(sigma)
    return p - p.mean()


def contrast_recovery(recon_present: np.ndarray, recon_absent: np.ndarray,
                      truth_present: np.ndarray, truth_absent: np.ndarray,
                      lesions: LesionSet) -> np.ndarray:
    """Per-lesion ``CR = <p, d> / <p, p>`` (module doc)."""
    h = lesions.half
    p = rois(np.asarray(truth_present) - np.asarray(truth_absent), lesions.positions, h)
    d = rois(np.asarray(recon_present) - np.asarray(recon_absent), lesions.positions, h)
    return np.sum(p * d, axis=(1, 2)) / np.maximum(np.sum(p * p, axis=(1, 2)), 1e-30)


def observer_statistics(image: np.ndarray, lesions: LesionSet,
                        background: np.ndarray | None = None) -> np.ndarray:
    """NPW matched-filter statistics ``<w, ROI(image - background)>`` at the lesion positions
    (``background`` the known lesion-free truth; ``None`` for a zero background)."""
    image = np.asarray(image, np.float64)
    if background is not None:
        image = image - np.asarray(background, np.float64)
    return np.sum(rois(image, lesions.positions, lesions.half) * template(lesions.sigma),
                  axis=(1, 2))


def auc(present: np.ndarray, absent: np.ndarray) -> float:
    """Area under the ROC curve, Mann-Whitney estimate (ties count 1/2)."""
    present, absent = np.ravel(present), np.ravel(absent)
    if present.size == 0 or absent.size == 0:
        raise ValueError("auc: need at least one signal-present and one signal-absent score")
    diff = present[:, None] - absent[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def auc_standard_error(a: float, n_present: int, n_absent: int) -> float:
    """Hanley & McNeil (Radiology 143:29, 1982) standard error of an AUC estimate."""
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_present - 1) * (q1 - a * a) + (n_absent - 1) * (q2 - a * a)) / (
        n_present * n_absent)
    return float(np.sqrt(max(var, 0.0)))


def dprime(present: np.ndarray, absent: np.ndarray) -> float:
    """Detectability index ``(mean_p - mean_a) / sqrt((var_p + var_a) / 2)``."""
    present, absent = np.ravel(present), np.ravel(absent)
    spread = np.sqrt(0.5 * (np.var(present, ddof=1) + np.var(absent, ddof=1)))
    diff = float(np.mean(present) - np.mean(absent))
    if spread == 0:
        return 0.0 if diff == 0 else float(np.sign(diff) * np.inf)
    return diff / float(spread)


def false_lesions(recon: np.ndarray, truth: np.ndarray, sigma: float, threshold: float,
                  mask: np.ndarray | None = None) -> int:
    """Number of invented bright lesion-like blobs in ``recon`` (module doc)."""
    recon, truth = np.asarray(recon, np.float64), np.asarray(truth, np.float64)
    if recon.shape != truth.shape:
        raise ValueError(f"false_lesions: shapes {recon.shape} and {truth.shape} differ")
    w = template(sigma)
    response = ndimage.correlate(recon - truth, w, mode="reflect") / np.sum(w * profile(sigma))
    size = 2 * roi_half(sigma) + 1
    peaks = (response == ndimage.maximum_filter(response, size)) & (response > threshold)
    if mask is not None:
        peaks &= mask
    return int(np.count_nonzero(peaks))


def beyond_std(recon: np.ndarray, truth: np.ndarray, std: np.ndarray, k: float = 3.0,
               mask: np.ndarray | None = None) -> float:
    """Fraction of (masked) pixels with ``|recon - truth| > k x std``."""
    err = np.abs(np.asarray(recon, np.float64) - np.asarray(truth, np.float64))
    std = np.asarray(std, np.float64)
    if err.shape != std.shape:
        raise ValueError(f"beyond_std: error {err.shape} and std {std.shape} shapes differ")
    hit = err > k * std
    if mask is not None:
        return float(np.mean(hit[mask])) if mask.any() else 0.0
    return float(np.mean(hit))
