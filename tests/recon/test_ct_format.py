"""The CT HDF5 format: round trip, and one clear error per kind of bad file."""

import h5py
import numpy as np
import pytest

from recon.errors import UserError
from recon.io.ct_format import CTData, read_ct, write_ct


def sample(geometry="parallel", **kw):
    angles = np.linspace(0, np.pi, 6, endpoint=False)
    fields = dict(
        sinogram=np.random.default_rng(0).random((2, 6, 9)).astype(np.float32), angles=angles,
        geometry=geometry, image_shape=(8, 8), pixel_size=0.5, det_spacing=0.75,
        det_offset=0.1, ground_truth=np.zeros((2, 8, 8), np.float32),
    )
    if geometry != "parallel":
        fields.update(source_origin=40.0, origin_det=20.0)
    fields.update(kw)
    return CTData(**fields)


@pytest.mark.parametrize("geometry", ["parallel", "fan-flat", "fan-arc"])
def test_round_trip(tmp_path, geometry):
    path = tmp_path / "ct.h5"
    data = sample(geometry)
    write_ct(path, data)
    back = read_ct(path)
    np.testing.assert_array_equal(back.sinogram, data.sinogram)
    np.testing.assert_array_equal(back.angles, data.angles)
    assert (back.geometry, back.image_shape, back.pixel_size) == (geometry, (8, 8), 0.5)
    assert back.det_spacing == 0.75 and back.source_origin == data.source_origin
    assert back.operator().in_shape == (8, 8)
    assert back.operator().out_shape == (6, 9)


def corrupt(path, edit):
    write_ct(path, sample())
    with h5py.File(path, "r+") as f:
        edit(f)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.__delitem__("sinogram"), "missing dataset '/sinogram'"),
        (lambda f: f["sinogram"].__setitem__((0, 0, 0), np.nan), "NaN or Inf"),
        (lambda f: (f.__delitem__("angles"), f.create_dataset("angles", data=np.zeros(5))),
         "6 angles on axis 1 but '/angles' has 5"),
        (lambda f: f.attrs.__setitem__("geometry", "helical"), "attribute 'geometry'"),
        (lambda f: f.attrs.__setitem__("image_shape", [8]), "'image_shape'"),
        (lambda f: f.attrs.__setitem__("geometry", "fan-flat"), "'source_origin'"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, edit, message):
    path = tmp_path / "bad.h5"
    corrupt(path, edit)
    with pytest.raises(UserError, match=message) as err:
        read_ct(path)
    assert str(path) in str(err.value)


def test_not_hdf5(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("not an HDF5 file")
    with pytest.raises(UserError, match="not a readable HDF5 file"):
        read_ct(path)
