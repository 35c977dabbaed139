"""Training recipes for source separation (imported only by ``zoo train``)."""
