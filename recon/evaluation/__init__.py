"""Three-tier evaluation of reconstructions (``recon eval``).

- :mod:`recon.evaluation.pixel`: NMSE / PSNR / SSIM (fastMRI and dival definitions);
- :mod:`recon.evaluation.features`: Fréchet distance between texture-feature distributions of
  reconstructions and ground truths;
- :mod:`recon.evaluation.lesions`: low-contrast lesions inserted before simulation, contrast
  recovery, a non-prewhitening matched-filter observer (AUC, d') and hallucination scores;
- :mod:`recon.evaluation.data`: held-out MRI / CT test problems with and without lesions
  (no inverse crime);
- :mod:`recon.evaluation.run`: :func:`~recon.evaluation.run.evaluate`, the report sections.
"""
