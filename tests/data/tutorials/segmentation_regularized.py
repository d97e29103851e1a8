"""A small segmentation network as tutorials write one: regularizers, constraints and
initializer objects on the layers, MeanIoU among the metrics, early stopping and a checkpoint."""

import keras
from keras import layers
from keras.callbacks import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from keras.optimizers import Adam

keras.utils.set_random_seed(7)
NUM_CLASSES = 3
reg = keras.regularizers.l2(1e-4)


def conv_block(x, filters):
    x = layers.Conv2D(
        filters,
        3,
        padding="same",
        kernel_initializer=keras.initializers.HeNormal(seed=7),
        kernel_regularizer=reg,
        kernel_constraint=keras.constraints.MaxNorm(3.0),
        use_bias=False,
    )(x)
    x = layers.BatchNormalization(gamma_regularizer="l2", beta_constraint="non_neg")(x)
    return layers.Activation("relu")(x)


def build(input_shape=(32, 32, 3)):
    inputs = keras.Input(input_shape, name="image")
    d1 = conv_block(inputs, 8)
    d2 = conv_block(layers.MaxPooling2D()(d1), 16)
    u1 = layers.UpSampling2D()(d2)
    u1 = layers.Concatenate()([u1, d1])
    u1 = conv_block(u1, 8)
    outputs = layers.Conv2D(
        NUM_CLASSES,
        1,
        activation="softmax",
        kernel_regularizer=keras.regularizers.L1L2(l1=1e-5, l2=1e-4),
        bias_regularizer="l1",
        name="mask",
    )(u1)
    return keras.Model(inputs, outputs, name="tiny_segmenter")


model = build()
model.compile(
    optimizer=Adam(1e-4),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy", keras.metrics.MeanIoU(num_classes=NUM_CLASSES, sparse_y_pred=False)],
)
callbacks = [
    ModelCheckpoint("segmenter.keras", save_best_only=True),
    EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True),
    ReduceLROnPlateau(factor=0.5, patience=2),
]
history = model.fit(None, epochs=50, callbacks=callbacks)
print(history.history)
model.save("segmenter.keras")
