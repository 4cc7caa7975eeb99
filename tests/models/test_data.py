"""Training-image sources: ranges, determinism, the held-out brain slab, fastMRI layout."""

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.data import brain
from models.data.ellipses import EllipsesSource, ellipse_images
from models.data.fastmri import FastMRISource, coil_combine
from models.data.registry import make_source, resolve_data_config


def test_ellipses_distribution_basics():
    imgs = np.asarray(ellipse_images(jax.random.key(0), 6, 128))
    assert imgs.shape == (6, 128, 128) and imgs.dtype == np.float32
    assert np.allclose(imgs.max(axis=(1, 2)), 1.0) and np.all(imgs.min(axis=(1, 2)) == 0.0)
    assert 0.05 < np.mean(imgs > 0) < 0.95  # foreground and background both present
    src = EllipsesSource(patch=32)
    a, b = src.sample(jax.random.key(1), 3), src.sample(jax.random.key(1), 3)
    np.testing.assert_array_equal(a, b)  # explicit keys: deterministic
    assert a.shape == (3, 32, 32)
    assert not np.array_equal(src.sample(jax.random.key(2), 3), a)


def test_brain_samples_complex_in_unit_disc():
    src = brain.BrainSource(patch=32)
    x = src.sample(jax.random.key(0), 4)
    assert x.shape == (4, 32, 32) and x.dtype == jnp.complex64
    assert float(jnp.abs(x).max()) <= 1.0 + 1e-6 and float(jnp.abs(x).max()) > 0.05
    assert float(jnp.std(jnp.angle(x[jnp.abs(x) > 0.05]))) > 0.01  # non-trivial phase


def test_brain_training_never_touches_heldout_slab():
    shape = brain.load_volumes().shape[1:]
    keys = jax.random.split(jax.random.key(5), 3000)
    coords = jax.jit(jax.vmap(lambda k: brain.sample_coords(k, 48, shape)))(keys)
    z = np.asarray(coords[:, 2])
    lo = np.floor(z)  # linear interpolation reads voxels floor(z) and floor(z) + 1
    touches = (lo + 1 >= brain.HOLDOUT_Z0) & (lo < brain.HOLDOUT_Z1)
    assert not touches.any()
    # all three orientations occur, and planes on both sides of the band
    varies_z = np.ptp(z.reshape(3000, -1), axis=1) > 1
    assert varies_z.sum() > 1500 and (~varies_z).sum() > 500  # coronal+sagittal, axial
    assert (z < brain.HOLDOUT_Z0).any() and (z >= brain.HOLDOUT_Z1).any()


def test_brain_heldout_slices():
    h = brain.heldout_slices(3)
    assert h.shape == (3, 192, 224) and h.dtype == jnp.complex64
    assert 0.3 < float(jnp.abs(h).max()) <= 1.0
    np.testing.assert_array_equal(h, brain.heldout_slices(3))  # fixed default key


def _write_fastmri(path, key, rng, nslices=3, coils=4, h=32, w=24):
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    img = np.zeros((nslices, h, w), np.complex64)
    img[:, 8:24, 6:18] = 1.0 * np.exp(1j * (0.5 + xx[8:24, 6:18]))
    img[:, 12:18, 9:14] = 0.4
    maps = np.stack(
        [np.exp(-((yy - c / coils) ** 2 + (xx - 0.3) ** 2)) * np.exp(1j * c) for c in range(coils)]
    )
    maps = maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))
    coil_imgs = maps[None] * img[:, None]
    ax = (-2, -1)
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil_imgs, axes=ax), axes=ax), axes=ax)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=k.astype(np.complex64))
        f.create_dataset("reconstruction_rss", data=np.abs(img[:, 8:24, 4:20]).astype(np.float32))
    return img


def test_fastmri_directory_source(tmp_path):
    rng = np.random.default_rng(0)
    imgs = [_write_fastmri(tmp_path / f"file{i}.h5", i, rng) for i in range(2)]
    cfg = resolve_data_config({"kind": "fastmri", "root": str(tmp_path), "patch": 8, "crop": 16})
    assert cfg["target"] == "complex" and cfg["heldout_fraction"] == 0.1
    src = make_source(cfg)
    assert src.is_complex and [f.name for f in src.heldout_files] == ["file1.h5"]
    x = src.sample(jax.random.key(0), 5)
    assert x.shape == (5, 8, 8) and x.dtype == jnp.complex64
    np.testing.assert_array_equal(x, src.sample(jax.random.key(0), 5))
    held = src.heldout(2)
    assert held.shape == (2, 16, 16) and float(jnp.abs(held).max()) == pytest.approx(1.0)
    # complex coil combination recovers the magnitude where the object is
    with h5py.File(tmp_path / "file0.h5") as f:
        comb = coil_combine(np.asarray(f["kspace"][0]))
    ref = np.abs(imgs[0][0])
    m = ref > 0.2
    corr = np.corrcoef(np.abs(comb)[m], ref[m])[0, 1]
    assert corr > 0.95
    rss = FastMRISource(str(tmp_path), target="rss", patch=8)
    r = rss.sample(jax.random.key(1), 2)
    assert r.dtype == jnp.float32 and r.shape == (2, 8, 8) and not rss.is_complex


def test_data_config_errors(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        resolve_data_config({"kind": "nope"})
    with pytest.raises(ValueError, match="unknown data config keys"):
        resolve_data_config({"kind": "ellipses", "bogus": 1})
    with pytest.raises(ValueError, match="no fastMRI"):
        FastMRISource(str(tmp_path))
