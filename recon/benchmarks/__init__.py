"""Side-by-side benchmarks of the engine and its peers (``recon bench SUITE``).

Each suite module in this package defines ``SUITE`` (its name), ``DESCRIPTION`` and
``run(quick: bool) -> list[harness.Comparison]``.
"""

SUITES = {
    # name -> module under recon.benchmarks; suites register here as they are written
}
