"""Fingerprints of seeded training: sha256 (16 hex digits) of the weights and predictions after a few epochs of
several kinds of model, at 1 and 2 threads - a quick check that a change to the engine left results bit for bit
as they were.

    python benchmarks/fingerprint.py before.json            # on the old build
    python benchmarks/fingerprint.py after.json --compare before.json

The cases: dense float32 and float64 with input and hidden dropout, GELU and L1L2, under SGD (Nesterov), Adam
(AMSGrad), AdamW and RMSprop (momentum); a CNN (convolution, max and average pooling, dropout); MSE at batch 1
with a validation split; a tied autoencoder; Huber with a cosine schedule; k-means.
"""
import argparse
import hashlib
import json
import numpy as np
import fastnn

def h(*arrays):
    m = hashlib.sha256()
    for a in arrays:
        m.update(np.ascontiguousarray(a).tobytes())
    return m.hexdigest()[:16]


def fingerprints():
    rng = np.random.default_rng(0)
    Xd = rng.standard_normal((300, 20)); yd = rng.integers(0, 4, 300)
    Xi = rng.standard_normal((120, 1, 10, 10)); yi = rng.integers(0, 3, 120)
    out = {}
    for nt in (1, 2):
        for dtype in ("float32", "float64"):
            for opt in ("sgd", "adam", "adamw", "rmsprop"):
                o = {"sgd": fastnn.SGD(0.05, momentum=0.9, nesterov=True), "adam": fastnn.Adam(1e-2, amsgrad=True),
                     "adamw": fastnn.AdamW(1e-2), "rmsprop": fastnn.RMSprop(1e-2, momentum=0.5)}[opt]
                m = fastnn.Sequential([fastnn.Dropout(0.1), fastnn.Dense(20, 64, activation="gelu"), fastnn.Dropout(0.2),
                                       fastnn.Dense(64, 4, activation="softmax")], seed=1, dtype=dtype)
                m.compile(loss="cross_entropy", optimizer=o, regularizer=fastnn.L1L2(1e-4, 1e-3))
                m.fit(Xd.astype(dtype), yd, epochs=3, batch_size=32, n_threads=nt, verbose=0)
                out[f"dense-{dtype}-{opt}-{nt}"] = h(*m.get_weights(), m.predict(Xd.astype(dtype), n_threads=nt))
            m = fastnn.Sequential([fastnn.Conv2D(1, 8, 3, activation="relu", padding=1), fastnn.MaxPool2D(2),
                                   fastnn.Conv2D(8, 8, 3, activation="relu"), fastnn.AvgPool2D(1), fastnn.Flatten(),
                                   fastnn.Dropout(0.1), fastnn.Dense(8 * 3 * 3, 3, activation="softmax")], seed=2, dtype=dtype, input_shape=(1, 10, 10))
            m.compile(loss="cross_entropy", optimizer=fastnn.Adam(1e-2))
            m.fit(Xi.astype(dtype), yi, epochs=2, batch_size=16, n_threads=nt, verbose=0)
            out[f"cnn-{dtype}-{nt}"] = h(*m.get_weights(), m.predict(Xi.astype(dtype), n_threads=nt))
            m = fastnn.Sequential([fastnn.Dense(20, 8, activation="tanh"), fastnn.Dense(8, 20)], seed=3, dtype=dtype)
            m.compile(loss="mse", optimizer=fastnn.SGD(0.01, momentum=0.9))
            m.fit(Xd.astype(dtype), Xd.astype(dtype), epochs=3, batch_size=1, n_threads=nt, verbose=0, validation_split=0.1)
            out[f"mse-b1-{dtype}-{nt}"] = h(*m.get_weights(), m.predict(Xd[:1].astype(dtype), n_threads=nt))
            ae = fastnn.Autoencoder([20, 12, 4], tied=True, seed=4, dtype=dtype)
            ae.compile(loss="mse", optimizer=fastnn.Adam(1e-2))
            ae.fit(Xd.astype(dtype), epochs=2, batch_size=32, n_threads=nt, verbose=0)
            out[f"ae-{dtype}-{nt}"] = h(*ae.get_weights(), ae.reconstruct(Xd.astype(dtype), n_threads=nt))
            m = fastnn.Sequential([fastnn.Dense(20, 16, activation="relu"), fastnn.Dense(16, 1)], seed=5, dtype=dtype)
            m.compile(loss="huber", optimizer=fastnn.SGD(fastnn.schedules.CosineDecay(0.05, 20, warmup_steps=3)))
            m.fit(Xd.astype(dtype), Xd[:, :1].astype(dtype), epochs=3, batch_size=50, n_threads=nt, verbose=0)
            out[f"huber-{dtype}-{nt}"] = h(*m.get_weights())
    km = fastnn.KMeans(5, random_state=0, n_init=2).fit(Xd)
    out["kmeans"] = h(km.cluster_centers_, km.labels_)
    return out



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("output", help="write the fingerprints to this JSON file")
    parser.add_argument("--compare", metavar="FILE", help="a file of earlier fingerprints to compare with")
    args = parser.parse_args(argv)
    out = fingerprints()
    with open(args.output, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{len(out)} fingerprints written to {args.output}")
    if args.compare:
        with open(args.compare) as f:
            old = json.load(f)
        differ = [k for k in old if old[k] != out.get(k)]
        print("all equal" if not differ else f"{len(differ)} differ: {', '.join(differ)}")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
