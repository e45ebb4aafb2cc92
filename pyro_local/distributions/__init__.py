
from .kl_rectified_normal import kl_rectified_normal  # noqa: F401  (registers the KL)
from .rectified_normal import RectifiedNormal  # noqa: F401
