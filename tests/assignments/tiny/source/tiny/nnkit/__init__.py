"""The tiny assignment's package: one module students complete."""
