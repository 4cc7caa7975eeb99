"""Everything that turns data into images: solvers, data consistency, samplers, coil maps,
metrics, file formats, pipelines and the ``recon`` command line."""
