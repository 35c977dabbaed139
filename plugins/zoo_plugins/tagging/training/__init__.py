"""Training for audio tagging and captioning: imported only by ``zoo train``."""
