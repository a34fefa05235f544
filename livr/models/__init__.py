"""Models: segments, mask policies, latent tokens, backbone adapters and loading."""
