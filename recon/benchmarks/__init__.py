"""Side-by-side benchmarks of the engine and its peers (``recon bench SUITE``).

Each suite module in this package defines ``run(quick: bool) -> list[harness.Comparison]``
and is registered in :data:`SUITES` (suite name -> module name under ``recon.benchmarks``).
"""

SUITES: dict[str, str] = {
    # "name": "module",  (one line per suite)
    "sense": "sense",
    "nufft": "nufft",
    "mri-recon": "mri_recon",
    "ct": "ct",
    "diffusion": "diffusion",
}
