"""The namespace lab: a small network of real kernels for end-to-end tests (root only)."""
