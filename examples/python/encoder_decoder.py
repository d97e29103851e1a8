# ruff: noqa: F841  (pool3 stays as printed, unused since the fix below)
"""A small convolutional encoder-decoder with skip connections, written with ``tf.keras``.

From seed 004 (the ``build_model(input_shape)`` question). Added to make it a complete file:
line breaks, and the last line, which builds it for 128x128 RGB input. One fix: as printed, the
first ``Conv2DTranspose`` reads ``pool3`` and its 32x32 output cannot be concatenated with the
64x64 ``conv4`` (Keras refuses it, and so does kerascc, at that line); it reads ``conv6`` here,
so each skip connection meets a tensor of its own size.
"""
import tensorflow as tf


def build_model(input_shape):
    inputs = tf.keras.layers.Input(shape=input_shape)
    # encoder
    conv1 = tf.keras.layers.Conv2D(32, (3, 3), activation='relu', padding='same')(inputs)
    conv1 = tf.keras.layers.BatchNormalization()(conv1)
    conv2 = tf.keras.layers.Conv2D(32, (3, 3), activation='relu', padding='same')(conv1)
    conv2 = tf.keras.layers.BatchNormalization()(conv2)
    pool1 = tf.keras.layers.MaxPooling2D((2, 2))(conv2)
    conv3 = tf.keras.layers.Conv2D(64, (3, 3), activation='relu', padding='same')(pool1)
    conv3 = tf.keras.layers.BatchNormalization()(conv3)
    conv4 = tf.keras.layers.Conv2D(64, (3, 3), activation='relu', padding='same')(conv3)
    conv4 = tf.keras.layers.BatchNormalization()(conv4)
    pool2 = tf.keras.layers.MaxPooling2D((2, 2))(conv4)
    conv5 = tf.keras.layers.Conv2D(128, (3, 3), activation='relu', padding='same')(pool2)
    conv5 = tf.keras.layers.BatchNormalization()(conv5)
    conv6 = tf.keras.layers.Conv2D(128, (3, 3), activation='relu', padding='same')(conv5)
    conv6 = tf.keras.layers.BatchNormalization()(conv6)
    pool3 = tf.keras.layers.MaxPooling2D((2, 2))(conv6)
    # decoder
    up1 = tf.keras.layers.Conv2DTranspose(64, (2, 2), strides=(2, 2), padding='same')(conv6)  # fixed: was pool3
    merge1 = tf.keras.layers.concatenate([conv4, up1])
    conv7 = tf.keras.layers.Conv2D(64, (3, 3), activation='relu', padding='same')(merge1)
    conv7 = tf.keras.layers.BatchNormalization()(conv7)
    conv8 = tf.keras.layers.Conv2D(64, (3, 3), activation='relu', padding='same')(conv7)
    conv8 = tf.keras.layers.BatchNormalization()(conv8)
    up2 = tf.keras.layers.Conv2DTranspose(32, (2, 2), strides=(2, 2), padding='same')(conv8)
    merge2 = tf.keras.layers.concatenate([conv2, up2])
    conv9 = tf.keras.layers.Conv2D(32, (3, 3), activation='relu', padding='same')(merge2)
    conv9 = tf.keras.layers.BatchNormalization()(conv9)
    conv10 = tf.keras.layers.Conv2D(32, (3, 3), activation='relu', padding='same')(conv9)
    conv10 = tf.keras.layers.BatchNormalization()(conv10)
    outputs = tf.keras.layers.Conv2D(3, (3, 3), padding='same')(conv10)
    model = tf.keras.models.Model(inputs=inputs, outputs=outputs)
    return model


model = build_model((128, 128, 3))  # added
