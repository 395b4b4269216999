"""The import-time shim: what lets OpenAI's 2019 TensorFlow 1 code run, unmodified, on TensorFlow 2.

It edits no upstream file. It changes what two import statements find, and nothing else:
``import tensorflow as tf`` (model.py line 2, sample.py line 1, the scripts) and
``from tensorflow.contrib.training import HParams`` (model.py line 3). Every line below is
one thing that changed in TensorFlow since 2019 (the article's §2 ¶17 on the code's age).

Import this module before any pinned file is imported. It needs TensorFlow 2 and nothing else.
"""

import sys
import types

import tensorflow

# TensorFlow 2 keeps the whole 1.x API, but under tf.compat.v1 ...
tf = tensorflow.compat.v1
# ... and by default it runs eagerly, with 2.x shapes. This switches back to 1.x behaviour:
# graphs and sessions, placeholders, and shapes whose dimensions have `.value` (model.py
# line 31 reads `x.shape[-1].value`, which fails without it).
tf.disable_v2_behavior()
# From here on, `import tensorflow` anywhere gives the 1.x API.
sys.modules["tensorflow"] = tf


class HParams:
    """tf.contrib (with contrib.training.HParams) was removed in TensorFlow 2.0. model.py
    needs only this much of it: keyword arguments become attributes, and the scripts call
    override_from_dict with the contents of hparams.json."""

    def __init__(self, **values):
        self.__dict__.update(values)

    def override_from_dict(self, values):
        self.__dict__.update(values)
        return self


# Two empty modules standing where tensorflow.contrib and tensorflow.contrib.training were.
contrib = types.ModuleType("tensorflow.contrib")
contrib.training = types.ModuleType("tensorflow.contrib.training")
contrib.training.HParams = HParams
sys.modules["tensorflow.contrib"] = contrib
sys.modules["tensorflow.contrib.training"] = contrib.training
