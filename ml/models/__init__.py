"""Every model family; importing this package registers each model (``ml.base.register``).

Keep this a plain list of imports, one module per line. TensorFlow is imported inside the TF
models' ``_fit``, so loading a saved model through this package needs only numpy.
"""

from ml.models import (
    als,  # noqa: F401
    bpr,  # noqa: F401
    ctr,  # noqa: F401
    ease,  # noqa: F401
    ensemble,  # noqa: F401
    itemknn,  # noqa: F401
    link_prediction,  # noqa: F401
    neumf,  # noqa: F401
    popularity,  # noqa: F401
    rp3beta,  # noqa: F401
    seqknn,  # noqa: F401
    text_matching,  # noqa: F401
    two_tower,  # noqa: F401
    uplift,  # noqa: F401
)
