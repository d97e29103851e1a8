"""Models used as layers of other models: an encoder, a decoder and a classifier head.

The autoencoder pattern of the Keras guides: ``encoder`` and ``decoder`` are models of their
own, and ``autoencoder = keras.Model(inputs, decoder(encoder(inputs)))``; a Sequential block
is applied twice inside the functional model, and a Sequential holds a model as its first
layer (a model of its own: Keras saves the weights of a model nested in two parents only once). Keras saves nested models' weights under their own names, which ``--weights`` follows.
"""
import keras
from keras import layers

encoder_inputs = keras.Input(shape=(28, 28, 1), name="image")
x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(encoder_inputs)
x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
encoder = keras.Model(encoder_inputs, x, name="encoder")

decoder = keras.Sequential(
    [
        layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
    ],
    name="decoder",
)

refine = keras.Sequential([layers.Conv2D(32, 1), layers.BatchNormalization(), layers.ReLU()])

stem_inputs = keras.Input(shape=(28, 28, 1))
stem = keras.Model(stem_inputs, layers.Conv2D(8, 5, strides=2, activation="relu")(stem_inputs), name="stem")
classifier = keras.Sequential([stem, layers.GlobalAveragePooling2D(), layers.Dense(10)])

inputs = keras.Input(shape=(28, 28, 1))
features = encoder(inputs)
features = refine(refine(features))
reconstruction = decoder(features)
model = keras.Model(inputs, [reconstruction, classifier(inputs)], name="autoencoder")
