"""Serving: the MRD streaming server (``recon serve``), its client (``recon send``) and the
adapters between MRD messages and the one reconstruction path of :mod:`recon.mri_reconstruction`.

- :mod:`recon.serving.config`: CONFIG_FILE / CONFIG_TEXT -> the options of ``recon mri``;
- :mod:`recon.serving.slices`: streamed acquisitions -> per-slice raw-data dictionaries;
- :mod:`recon.serving.images`: reconstructed slices -> MRD images;
- :mod:`recon.serving.server`: the TCP server, one thread per connection, a shared worker pool;
- :mod:`recon.serving.client`: stream an ISMRMRD file and collect the images.
"""
