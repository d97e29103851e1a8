# ruff: noqa: F401  (the tutorial imports tf without using it)
"""ResNet50 from ``tf.keras.applications``, with its summary.

From seed 003 (the closing example), as printed there. kerascc builds the application's graph
itself; ``weights='imagenet'`` is noted, not downloaded: compile with ``--weights`` for trained
weights (e.g. saved by ``keras.applications.ResNet50().save_weights('resnet50.weights.h5')``).
"""
import tensorflow as tf
from tensorflow.keras.applications import ResNet50

# input tensor shape
input_shape = (224, 224, 3)

# the ResNet50 model, with pretrained weights
resnet50 = ResNet50(weights='imagenet', input_shape=input_shape)

# print the model summary
resnet50.summary()
