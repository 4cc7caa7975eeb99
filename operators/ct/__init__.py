"""CT forward models: parallel-, fan- and cone-beam projectors with exact adjoints."""

from operators.ct.cone import cone_beam
from operators.ct.fan import fan_beam
from operators.ct.parallel import parallel_beam

__all__ = ["cone_beam", "fan_beam", "parallel_beam"]
