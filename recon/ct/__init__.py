"""Classical CT reconstruction: ramp filters, FBP/FDK (:mod:`recon.ct.fbp`), noise models
(:mod:`recon.ct.noise`) and phantoms (:mod:`recon.ct.phantom`)."""
