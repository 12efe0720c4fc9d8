"""The tutorials' own Keras code, as written, timed on this machine: the references of bench_peers.py.
Runs in the benchmark-only environment .venv-peers (make bench-peers), never in the app's.

    .venv-peers/bin/python benchmarks/peers/keras_recipes.py conv-onehot-channels|dcgan-label-channel --seconds 20

Prints one JSON line: {"recipe", "steps_per_second", "steps", "warmup_steps"}. The data is this
project's vendored MNIST (the tutorials download the same files with keras.datasets). Changes from the
tutorials' text, each needed to run it under Keras 3 at all: `lr=` is `learning_rate=`, `alpha=` is
`negative_slope=`, and seed 004's D is made trainable around its own updates and frozen around G's
(Keras 3 reads `trainable` at each update, where Keras 2 froze it at compile time: without the toggle
D never trains).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

MNIST = Path(__file__).resolve().parents[2] / "resources" / "mnist"


def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(MNIST / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(MNIST / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


# ---- seeds 000 and 003: keras-io examples/generative/conditional_gan.py ----------------------------------
class ConditionalGAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim, image_size=28, num_classes=10):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.image_size, self.num_classes = image_size, num_classes
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.gen_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.disc_loss_tracker = keras.metrics.Mean(name="discriminator_loss")

    @property
    def metrics(self):
        return [self.gen_loss_tracker, self.disc_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

    def train_step(self, data):
        real_images, one_hot_labels = data
        image_one_hot_labels = one_hot_labels[:, :, None, None]
        image_one_hot_labels = ops.repeat(image_one_hot_labels, repeats=[self.image_size * self.image_size])
        image_one_hot_labels = ops.reshape(image_one_hot_labels, (-1, self.image_size, self.image_size, self.num_classes))
        batch_size = ops.shape(real_images)[0]
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        random_vector_labels = ops.concatenate([random_latent_vectors, one_hot_labels], axis=1)
        generated_images = self.generator(random_vector_labels)
        fake_image_and_labels = ops.concatenate([generated_images, image_one_hot_labels], -1)
        real_image_and_labels = ops.concatenate([real_images, image_one_hot_labels], -1)
        combined_images = ops.concatenate([fake_image_and_labels, real_image_and_labels], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        random_vector_labels = ops.concatenate([random_latent_vectors, one_hot_labels], axis=1)
        misleading_labels = ops.zeros((batch_size, 1))
        with tf.GradientTape() as tape:
            fake_images = self.generator(random_vector_labels)
            fake_image_and_labels = ops.concatenate([fake_images, image_one_hot_labels], -1)
            predictions = self.discriminator(fake_image_and_labels)
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.gen_loss_tracker.update_state(g_loss)
        self.disc_loss_tracker.update_state(d_loss)
        return {"g_loss": self.gen_loss_tracker.result(), "d_loss": self.disc_loss_tracker.result()}


def conv_onehot_channels(seconds: float) -> dict:
    batch_size, num_channels, num_classes, latent_dim = 64, 1, 10, 128
    images, labels = load_mnist()
    all_digits = images.astype("float32") / 255.0
    all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
    all_labels = keras.utils.to_categorical(labels, 10)
    dataset = tf.data.Dataset.from_tensor_slices((all_digits, all_labels))
    dataset = dataset.shuffle(buffer_size=1024).batch(batch_size)
    generator_in_channels = latent_dim + num_classes
    discriminator_in_channels = num_channels + num_classes
    discriminator = keras.Sequential([
        keras.layers.InputLayer((28, 28, discriminator_in_channels)),
        layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.GlobalMaxPooling2D(), layers.Dense(1),
    ], name="discriminator")
    generator = keras.Sequential([
        keras.layers.InputLayer((generator_in_channels,)),
        layers.Dense(7 * 7 * generator_in_channels), layers.LeakyReLU(negative_slope=0.2),
        layers.Reshape((7, 7, generator_in_channels)),
        layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"), layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
    ], name="generator")
    cond_gan = ConditionalGAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    cond_gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                     g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                     loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
    warmup = 20
    cond_gan.fit(dataset.repeat(), epochs=1, steps_per_epoch=warmup, verbose=0)  # traces and compiles the step
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        cond_gan.fit(dataset.repeat(), epochs=1, steps_per_epoch=50, verbose=0)
        steps += 50
    return {"steps": steps, "seconds": time.perf_counter() - start, "warmup_steps": warmup}


# ---- seed 004: J. Brownlee, "How to Develop a Conditional GAN (cGAN) From Scratch" -------------------------
def define_discriminator(in_shape=(28, 28, 1), n_classes=10):
    in_label = layers.Input(shape=(1,))
    li = layers.Embedding(n_classes, 50)(in_label)
    li = layers.Dense(in_shape[0] * in_shape[1])(li)
    li = layers.Reshape((in_shape[0], in_shape[1], 1))(li)
    in_image = layers.Input(shape=in_shape)
    merge = layers.Concatenate()([in_image, li])
    fe = layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same")(merge)
    fe = layers.LeakyReLU(negative_slope=0.2)(fe)
    fe = layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same")(fe)
    fe = layers.LeakyReLU(negative_slope=0.2)(fe)
    fe = layers.Flatten()(fe)
    fe = layers.Dropout(0.4)(fe)
    out_layer = layers.Dense(1, activation="sigmoid")(fe)
    model = keras.Model([in_image, in_label], out_layer)
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5),
                  metrics=["accuracy"])
    return model


def define_generator(latent_dim, n_classes=10):
    in_label = layers.Input(shape=(1,))
    li = layers.Embedding(n_classes, 50)(in_label)
    li = layers.Dense(7 * 7)(li)
    li = layers.Reshape((7, 7, 1))(li)
    in_lat = layers.Input(shape=(latent_dim,))
    gen = layers.Dense(128 * 7 * 7)(in_lat)
    gen = layers.LeakyReLU(negative_slope=0.2)(gen)
    gen = layers.Reshape((7, 7, 128))(gen)
    merge = layers.Concatenate()([gen, li])
    gen = layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same")(merge)
    gen = layers.LeakyReLU(negative_slope=0.2)(gen)
    gen = layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same")(gen)
    gen = layers.LeakyReLU(negative_slope=0.2)(gen)
    out_layer = layers.Conv2D(1, (7, 7), activation="tanh", padding="same")(gen)
    return keras.Model([in_lat, in_label], out_layer)


def define_gan(g_model, d_model):
    d_model.trainable = False
    gen_noise, gen_label = g_model.input
    gan_output = d_model([g_model.output, gen_label])
    model = keras.Model([gen_noise, gen_label], gan_output)
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5))
    return model


def dcgan_label_channel(seconds: float) -> dict:
    from numpy.random import randint, randn

    latent_dim, n_batch = 100, 128
    half_batch = n_batch // 2
    d_model = define_discriminator()
    g_model = define_generator(latent_dim)
    gan_model = define_gan(g_model, d_model)
    images, labels = load_mnist()
    X = np.expand_dims(images, axis=-1).astype("float32")
    dataset = [(X - 127.5) / 127.5, labels]

    def one_step() -> None:
        ix = randint(0, dataset[0].shape[0], half_batch)
        X_real, labels_real, y_real = dataset[0][ix], dataset[1][ix], np.ones((half_batch, 1))
        d_model.trainable = True  # Keras 3: see the module's docstring
        d_model.train_on_batch([X_real, labels_real], y_real)
        z_input, labels_input = randn(latent_dim * half_batch).reshape(half_batch, latent_dim), randint(0, 10, half_batch)
        X_fake = g_model.predict([z_input, labels_input], verbose=0)
        d_model.train_on_batch([X_fake, labels_input], np.zeros((half_batch, 1)))
        d_model.trainable = False
        z_input, labels_input = randn(latent_dim * n_batch).reshape(n_batch, latent_dim), randint(0, 10, n_batch)
        gan_model.train_on_batch([z_input, labels_input], np.ones((n_batch, 1)))

    warmup = 10
    for _ in range(warmup):
        one_step()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        one_step()
        steps += 1
    return {"steps": steps, "seconds": time.perf_counter() - start, "warmup_steps": warmup}


RECIPES = {"conv-onehot-channels": conv_onehot_channels, "dcgan-label-channel": dcgan_label_channel}

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("recipe", choices=list(RECIPES))
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    result = RECIPES[args.recipe](args.seconds)
    print(json.dumps({"recipe": args.recipe, "steps_per_second": result["steps"] / result["seconds"], **result}))
