"""Training-image sources with explicit keys; nothing is downloaded.

Every source has ``is_complex`` and ``sample(key, batch_size) -> (B, P, P)`` images whose magnitude
lies in [0, 1] (float32 or complex64), plus ``heldout(n)`` images never used in training.
"""

from models.data.registry import make_source

__all__ = ["make_source"]
