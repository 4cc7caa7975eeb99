"""MRI forward models: Cartesian SENSE, non-Cartesian NUFFT, sampling masks and trajectories."""
