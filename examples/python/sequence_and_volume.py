"""A sensor sequence and a video clip in one model: 1-D and 3-D layers side by side.

The sequence branch is a small 1-D CNN (Conv1D, PReLU, MaxPooling1D, AveragePooling1D,
GlobalAveragePooling1D); its pooled feature map is also looked at as a one-channel image and
resized (Resizing, bilinear). The clip branch is a 3-D CNN (Conv3D, MaxPooling3D,
GlobalAveragePooling3D) whose features enter the head negated (``-x``).
"""
import keras
from keras import layers
from keras.layers import Conv3D, MaxPool3D

sequence = keras.Input(shape=(48, 6), name="sequence")
x = layers.Conv1D(16, 5, padding="same")(sequence)
x = layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.05, 0.5), shared_axes=[1])(x)
x = layers.MaxPooling1D(2)(x)
spectrum = layers.Reshape((24, 16, 1))(x)
spectrum = layers.Flatten()(layers.Resizing(12, 6)(spectrum))
x = layers.Conv1D(24, 3, strides=2, activation="relu")(x)
x = layers.AveragePooling1D(pool_size=3, strides=1, padding="same")(x)
sequence_features = layers.GlobalAveragePooling1D()(x)

clip = keras.Input(shape=(8, 16, 16, 3), name="clip")
v = Conv3D(8, 3, padding="same", activation="relu")(clip)
v = MaxPool3D(pool_size=(1, 2, 2))(v)
v = Conv3D(12, (3, 3, 3), strides=2)(v)
clip_features = -layers.GlobalAveragePooling3D()(v)

features = layers.concatenate([sequence_features, clip_features, spectrum])
outputs = layers.Dense(5)(features)
model = keras.Model([sequence, clip], outputs, name="sequence_and_volume")
