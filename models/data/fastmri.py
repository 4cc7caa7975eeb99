"""A fastMRI directory of HDF5 files as a training-image source (for users who have the data).

fastMRI files (Zbontar et al. 2018, "fastMRI: An Open Dataset and Benchmarks for Accelerated MRI")
hold ``kspace`` of shape ``(slices, coils, H, W)`` (multi-coil) or ``(slices, H, W)`` (single-coil),
complex64, and for multi-coil data ``reconstruction_rss`` ``(slices, 320, 320)``.

- ``target="complex"``: coil-combined complex images from the k-space. Coil images are centred
  inverse FFTs; sensitivities are estimated from a low-resolution copy (k-space times a separable
  Hann window of ``acs`` samples), normalised by their root-sum-of-squares, and the coils are
  combined as ``x = sum_c conj(S_c) y_c / sum_c |S_c|^2`` (the SENSE-1 / Roemer combination with
  smooth maps). Single-coil k-space gives the plain inverse FFT. The image is centre-cropped to
  ``crop`` (fastMRI's 320x320 default, removing the readout oversampling).
- ``target="rss"``: the magnitude ``reconstruction_rss`` as a real image.

Each slice is divided by its maximum magnitude, so magnitudes lie in [0, 1]. ``sample`` draws
slices from the training files with explicit keys (a numpy generator seeded from the JAX key),
then a random ``patch`` crop and random flips. The last ``ceil(heldout_fraction * files)`` files
(sorted by name; at least one when there are two or more) are held out for :meth:`heldout`.
Reading uses h5py; slices are cached in memory (LRU).
"""

from __future__ import annotations

import functools
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np


def _ifft2c(k: np.ndarray) -> np.ndarray:
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=axes), axes=axes), axes=axes)


def _center_crop(x: np.ndarray, size: int) -> np.ndarray:
    h, w = x.shape[-2:]
    ch, cw = min(size, h), min(size, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return x[..., y0 : y0 + ch, x0 : x0 + cw]


def coil_combine(kspace: np.ndarray, acs: int = 24) -> np.ndarray:
    """Complex coil combination of one multi-coil k-space slice ``(coils, H, W)``."""
    coils = _ifft2c(kspace)
    h, w = kspace.shape[-2:]

    def window(n: int) -> np.ndarray:
        win = np.zeros(n)
        m = min(acs, n)
        s = (n - m) // 2
        win[s : s + m] = np.hanning(m + 2)[1:-1]
        return win

    low = _ifft2c(kspace * window(h)[:, None] * window(w)[None, :])
    rss = np.sqrt(np.sum(np.abs(low) ** 2, axis=0))
    maps = low / np.maximum(rss, 1e-12 * max(rss.max(), 1e-30))
    num = np.sum(np.conj(maps) * coils, axis=0)
    den = np.sum(np.abs(maps) ** 2, axis=0)
    return num / np.maximum(den, 1e-6)


class FastMRISource:
    """fastMRI HDF5 directory: ``sample(key, B) -> (B, patch, patch)``; see the module docstring."""

    def __init__(
        self,
        root: str,
        target: str = "complex",
        patch: int = 64,
        crop: int = 320,
        acs: int = 24,
        heldout_fraction: float = 0.1,
    ):
        import h5py

        if target not in ("complex", "rss"):
            raise ValueError(f"target must be 'complex' or 'rss', got {target!r}")
        self.root = pathlib.Path(root)
        files = sorted(self.root.glob("*.h5"))
        if not files:
            raise ValueError(f"no fastMRI .h5 files in {self.root}")
        self.target, self.patch, self.crop, self.acs = target, int(patch), int(crop), int(acs)
        self.is_complex = target == "complex"
        key = "kspace" if self.is_complex else "reconstruction_rss"
        n_held = math.ceil(heldout_fraction * len(files)) if len(files) > 1 else 0
        n_held = min(max(n_held, 1 if len(files) > 1 else 0), len(files) - 1)
        self.train_files = files[: len(files) - n_held]
        self.heldout_files = files[len(files) - n_held :]
        self._index = {}
        for f in files:
            with h5py.File(f, "r") as h:
                if key not in h:
                    raise ValueError(f"{f} has no dataset {key!r} (needed for target={target!r})")
                self._index[f] = h[key].shape[0]
        self._train = [(f, s) for f in self.train_files for s in range(self._index[f])]
        self._read = functools.lru_cache(maxsize=512)(self._read_slice)

    def _read_slice(self, f: pathlib.Path, s: int) -> np.ndarray:
        import h5py

        with h5py.File(f, "r") as h:
            if self.is_complex:
                k = np.asarray(h["kspace"][s])
                img = coil_combine(k, self.acs) if k.ndim == 3 else _ifft2c(k)
                img = _center_crop(img, self.crop).astype(np.complex64)
            else:
                img = np.asarray(h["reconstruction_rss"][s], np.float32)
        peak = np.abs(img).max()
        return img / peak if peak > 0 else img

    def _patch(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.patch
        if img.shape[0] < p or img.shape[1] < p:
            raise ValueError(f"slice {img.shape} is smaller than patch {p}")
        y0 = rng.integers(0, img.shape[0] - p + 1)
        x0 = rng.integers(0, img.shape[1] - p + 1)
        out = img[y0 : y0 + p, x0 : x0 + p]
        if rng.random() < 0.5:
            out = out[::-1]
        if rng.random() < 0.5:
            out = out[:, ::-1]
        return out

    def sample(self, key: jax.Array, batch_size: int) -> jnp.ndarray:
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
        picks = rng.integers(0, len(self._train), int(batch_size))
        return jnp.asarray(np.stack([self._patch(self._read(*self._train[i]), rng) for i in picks]))

    def heldout(self, n: int = 4) -> jnp.ndarray:
        """Up to ``n`` full slices from the held-out files (middle slices first)."""
        if not self.heldout_files:
            raise ValueError("held-out images need at least two files in the directory")
        out = []
        for f in self.heldout_files:
            m = self._index[f]
            order = sorted(range(m), key=lambda s: abs(s - m // 2))
            out += [self._read(f, s) for s in order]
            if len(out) >= n:
                break
        return jnp.asarray(np.stack(out[:n]))
