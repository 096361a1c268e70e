"""Every model family; importing this package registers each model (``ml.base.register``).

Keep this a plain list of imports: TensorFlow is imported inside the TF models' ``_fit``, so
loading a saved model here needs only numpy.
"""

from ml.models import bpr, ease, itemknn, neumf, popularity, rp3beta, two_tower  # noqa: F401
