"""Everything that turns data into images: solvers, data consistency, samplers, coil maps,
metrics, file formats, per-slice method runners and the ``recon`` command line."""
