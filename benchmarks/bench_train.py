#!/usr/bin/env python
"""Training and inference throughput of the emotion CNN on this machine (images/s).

    .venv/bin/python benchmarks/bench_train.py [--images 1024] [--batches 32,64,128]

Prints, side by side: training images/s per batch size with and without augmentation
(so the cost of the on-the-fly augmentation is visible as a ratio), inference images/s
at batch 1 vs 256, and the time one quick-preset epoch and the quick 01_train budget
would take at the measured rate. Each figure is the median of ``--repeats`` timed epochs
after one warm-up epoch (graph tracing excluded). A benchmark, never a test: the numbers
depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1024, help="training images per timed epoch")
    ap.add_argument("--batches", default="64", help="comma-separated batch sizes")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    from hybridlib import config, data, models
    from hybridlib.models import train

    ds = data.generate_synthetic("smoke", seed=0)
    x, y = ds.split("train")
    reps = int(np.ceil(args.images / len(x)))
    x, y = np.concatenate([x] * reps)[: args.images], np.concatenate([y] * reps)[: args.images]
    print(f"TF {tf.__version__}, {os.cpu_count()} CPUs visible, intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}; {args.images} images/epoch")

    def prepare(batch: int, augment: bool):
        keras.utils.set_random_seed(0)
        m = models.emotion_cnn()
        m.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        seq = train._batches(x, y, train.TrainConfig(batch_size=batch, augment=augment, epochs=1), None)
        m.fit(seq, epochs=1, verbose=0)  # warm-up: tracing
        return m, seq

    def timed(m, seq) -> float:
        t0 = time.perf_counter()
        m.fit(seq, epochs=1, verbose=0)
        return time.perf_counter() - t0

    print(f"load average before: {os.getloadavg()[0]:.1f} (other work on the machine skews these numbers)")
    print(f"\n{'batch':>6} {'train img/s (aug)':>18} {'train img/s (no aug)':>21} {'no-aug / aug':>13}")
    rates = {}
    for b in [int(v) for v in args.batches.split(",")]:
        runs = {True: prepare(b, True), False: prepare(b, False)}
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeats):  # interleaved, so drifting load hits both alike
            for aug in (True, False):
                times[aug].append(timed(*runs[aug]))
        ra, rn = (len(x) / statistics.median(times[a]) for a in (True, False))
        rates[b] = ra
        print(f"{b:>6} {ra:>18.1f} {rn:>21.1f} {rn / ra:>12.2f}×")

    m = models.emotion_cnn()
    xp = models.preprocess(x[:256])
    m.predict(xp, batch_size=256, verbose=0)
    t0 = time.perf_counter()
    m.predict(xp, batch_size=256, verbose=0)
    r256 = 256 / (time.perf_counter() - t0)
    one = xp[:1]
    m(one, training=False)
    t0 = time.perf_counter()
    for _ in range(50):
        m(one, training=False)
    r1 = 50 / (time.perf_counter() - t0)
    print(f"\ninference img/s: batch 1 {r1:.1f}, batch 256 {r256:.1f} → batching gains {r256 / r1:.1f}×")

    q = config.get_preset("quick")
    n_train = data.split_counts("quick")["Training"]
    rate = rates.get(q.batch_size, next(iter(rates.values())))
    sweep_imgs = len(data_grid := train.grid(q)) * q.sweep_epochs * (q.sweep_max_train or sum(n_train))
    final_imgs = q.epochs * sum(n_train)
    print(f"\nquick preset at {rate:.0f} img/s: one epoch ({sum(n_train)} faces) {sum(n_train) / rate:.0f} s; "
          f"sweep ({len(data_grid)} configs) {sweep_imgs / rate:.0f} s + final ≤{q.epochs} epochs "
          f"{final_imgs / rate:.0f} s = {(sweep_imgs + final_imgs) / rate:.0f} s of training (validation excluded)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
