"""keras.io: OCR model for reading Captchas (examples/vision/captcha_ocr.py).

Cut down: 40x16 images; the page's convolutional part (named Conv1/pool1/Conv2/pool2, the reshape to
a sequence, dense1, dropout) and its softmax output dense2. The bidirectional LSTMs between them
(recurrent layers) and the CTC loss layer (training only) are left out.
"""

import keras
from keras import layers

img_width = 40
img_height = 16
characters = sorted(set("23456789abcdefgnmpwxy"))


def build_model():
    input_img = layers.Input(shape=(img_width, img_height, 1), name="image", dtype="float32")
    x = layers.Conv2D(32, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same", name="Conv1")(
        input_img
    )
    x = layers.MaxPooling2D((2, 2), name="pool1")(x)
    x = layers.Conv2D(64, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same", name="Conv2")(x)
    x = layers.MaxPooling2D((2, 2), name="pool2")(x)
    new_shape = ((img_width // 4), (img_height // 4) * 64)
    x = layers.Reshape(target_shape=new_shape, name="reshape")(x)
    x = layers.Dense(64, activation="relu", name="dense1")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(len(characters) + 1, activation="softmax", name="dense2")(x)
    model = keras.models.Model(inputs=input_img, outputs=x, name="ocr_model_v1")
    opt = keras.optimizers.Adam()
    model.compile(optimizer=opt)
    return model


model = build_model()
model.summary()
