"""The normalizations and activations of a transformer block, and an augmented image branch."""

import keras
from keras import layers

tokens = keras.Input((6, 8), name="tokens")
x = layers.Dense(8)(tokens)
x = layers.LayerNormalization(axis=[-2, -1], epsilon=1e-6)(x)
h = layers.Dense(16, activation="gelu")(x)
h = keras.activations.gelu(h, approximate=True)
h = layers.Dense(8, activation="silu")(h)
x = layers.GroupNormalization(groups=2)(layers.Add()([x, h]))
x = layers.RMSNormalization()(x)
x = layers.UnitNormalization(axis=-1)(x)
scores = layers.Softmax(axis=(1, 2))(layers.Dense(3)(x))

image = keras.Input((8, 8, 3), name="image")
y = layers.RandomFlip("horizontal")(image)
y = layers.RandomRotation(0.1, fill_mode="nearest")(y)
y = layers.GaussianNoise(0.1)(y)
y = layers.Conv2D(4, 3, padding="same")(y)
y = layers.GroupNormalization(groups=2, epsilon=1e-5)(y)
y = layers.LayerNormalization(axis=[1, 2, 3])(y)

model = keras.Model([tokens, image], [scores, y])
