"""``fastnn cluster``: k-means on the scaled inputs beside k-means on an autoencoder's codes, with the scores that
clustering is judged by (clustering accuracy and NMI against the labels, inertia) and an optional picture."""
import argparse
import time

import numpy as np

from ._args import add_data_args, epilog, non_negative_int, positive_int
from ._data import read_builtin, read_file

EXAMPLES = """\
  fastnn cluster --dataset fashion-mnist                k-means on pixels, autoencoder codes, their spectral embedding
  fastnn cluster --data points.csv --clusters 3 --autoencoder 16 2   a small autoencoder for a file's rows
"""


def add_parser(sub):
    c = sub.add_parser("cluster", help="k-means on the inputs and on an autoencoder's codes, scored against the "
                                       "labels",
                       description="Cluster a dataset with k-means: on the scaled inputs, on the codes of an "
                                   "autoencoder trained on them, and on the spectral embedding of the codes' "
                                   "nearest-neighbour graph. Prints clustering accuracy (best matching of clusters "
                                   "to classes), normalized mutual information, inertia and seconds for each. For "
                                   "the built-in image datasets the autoencoder is 784-500-500-2000-K (K clusters) "
                                   "unless --autoencoder or --no-autoencoder says otherwise.",
                       epilog=epilog(EXAMPLES), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(c, "cluster")
    c.add_argument("--clusters", type=positive_int, default=10, metavar="K", help="number of clusters (default: 10)")
    c.add_argument("--autoencoder", type=positive_int, nargs="+", default=None, metavar="N",
                   help="hidden and code widths of the autoencoder to train first, e.g. 256 64 10 (default for "
                        "the built-in datasets: 500 500 2000 K; for --data: none)")
    c.add_argument("--no-autoencoder", action="store_true", help="k-means on the inputs only")
    c.add_argument("--epochs", type=positive_int, default=8, help="autoencoder epochs (default: 8)")
    c.add_argument("--batch-size", type=positive_int, default=256, help="autoencoder batch size (default: 256)")
    c.add_argument("--manifold", choices=["spectral", "none"], default="spectral",
                   help="also cluster the spectral embedding of the codes' nearest-neighbour graph (default: "
                        "spectral)")
    c.add_argument("--neighbors", type=positive_int, default=15, help="neighbours per point in that graph "
                                                                      "(default: 15)")
    c.add_argument("--samples", type=positive_int, default=None, metavar="N",
                   help="cluster the first N training samples only (default: all)")
    c.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    c.add_argument("--save", metavar="PATH", help="save the trained autoencoder to PATH")
    c.add_argument("--plot", metavar="FILE", help="draw the codes (2-D PCA, coloured by cluster) and, for images, "
                                                  "originals beside reconstructions")
    c.add_argument("--quiet", action="store_true", help="no progress output")
    return c


def _scores(y, labels, inertia, seconds):
    from .. import metrics

    parts = []
    if y is not None:
        parts += [f"accuracy {metrics.clustering_accuracy(y, labels):.4f}",
                  f"NMI {metrics.normalized_mutual_info(y, labels):.4f}"]
    return ", ".join(parts + [f"inertia {inertia:.4g}", f"{seconds:.1f}s"])


def run(args, out):
    import fastnn

    if args.save or args.plot:
        from .._core.validation import check_output_path

        for path in (args.save, args.plot):
            if path:
                check_output_path(path)
    if args.plot:
        from ..plotting import check_destination

        check_destination(args.plot)
    if args.dataset:
        (X, y), _, _ = read_builtin(args.dataset, verbose=not args.quiet)
    else:
        X, y = read_file(args.data, args.label_column)
    if args.samples is not None:
        X, y = X[:args.samples], y[:args.samples]
    if args.clusters > X.shape[0]:
        raise ValueError(f"--clusters {args.clusters} is more than the {X.shape[0]} samples")
    X = np.asarray(X)
    images = X.ndim == 2 and X.shape[1] == 784 and args.dataset is not None
    scaler = fastnn.MinMaxScaler() if images else fastnn.StandardScaler()
    Xs = scaler.fit_transform(X.reshape(len(X), -1), dtype=np.float32)
    out.write(f"data: {Xs.shape[0]:,} samples, {Xs.shape[1]} features; scaling: "
              f"{'minmax' if images else 'standard'}; {args.clusters} clusters\n")
    out.flush()
    started = time.perf_counter()
    t0 = time.perf_counter()
    km = fastnn.KMeans(args.clusters, random_state=args.seed, n_threads=args.threads).fit(Xs)
    out.write(f"k-means on the inputs: {_scores(y, km.labels_, km.inertia_, time.perf_counter() - t0)}\n")
    out.flush()
    hidden = args.autoencoder
    if hidden is None and args.dataset and not args.no_autoencoder:
        hidden = [500, 500, 2000, args.clusters]
    ae = codes = None
    if hidden and not args.no_autoencoder:
        t0 = time.perf_counter()
        widths = [Xs.shape[1]] + list(hidden)
        ae = fastnn.Autoencoder(widths, output_activation="sigmoid" if images else None, seed=args.seed)
        ae.compile(loss="binary_cross_entropy" if images else "mse", optimizer=fastnn.Adam(1e-3))
        ae.fit(Xs, epochs=args.epochs, batch_size=args.batch_size, n_threads=args.threads,
               verbose=0 if args.quiet else 2)
        codes = ae.encode(Xs)
        trained = time.perf_counter() - t0
        out.write(f"autoencoder {' -> '.join(map(str, widths))}: {args.epochs} epochs in {trained:.1f}s, "
                  f"reconstruction mse {ae.reconstruction_error(Xs).mean():.4f}\n")
        t0 = time.perf_counter()
        km = fastnn.KMeans(args.clusters, random_state=args.seed, n_threads=args.threads).fit(codes)
        out.write(f"k-means on the codes: {_scores(y, km.labels_, km.inertia_, time.perf_counter() - t0)}\n")
        out.flush()
        if args.manifold == "spectral":
            t0 = time.perf_counter()
            nn = min(args.neighbors, len(codes) - 1)
            dims = min(args.clusters, len(codes) - 1)
            embedded = fastnn.cluster.spectral_embedding(codes, n_components=dims, n_neighbors=nn,
                                                         n_threads=args.threads)
            km = fastnn.KMeans(args.clusters, n_init=10, random_state=args.seed,
                               n_threads=args.threads).fit(embedded)
            out.write(f"k-means on the codes' spectral embedding ({nn} neighbours): "
                      f"{_scores(y, km.labels_, km.inertia_, time.perf_counter() - t0)}\n")
        if args.save:
            ae.save(args.save)
            out.write(f"saved the autoencoder to {args.save}\n")
    out.write(f"total {time.perf_counter() - started:.1f}s\n")
    if args.plot:
        _plot(args.plot, codes if codes is not None else Xs, km.labels_, Xs if images else None, ae)
        out.write(f"saved the picture to {args.plot}\n")
    return 0


def _plot(path, points, labels, images, ae):
    """The points' first two principal components coloured by cluster; for images, a row of originals above
    their reconstructions."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred[:5000].astype(np.float64), full_matrices=False)
    xy = centred @ vt[:2].T if vt.shape[0] >= 2 else np.column_stack([centred[:, 0], np.zeros(len(centred))])
    show = images is not None and ae is not None
    fig = Figure(figsize=(11 if show else 6, 5), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 9 if show else 1, width_ratios=[5] + [1] * 8 if show else [1])
    ax = fig.add_subplot(grid[:, 0])
    ax.scatter(xy[:, 0], xy[:, 1], c=labels, s=2, cmap="tab10")
    ax.set_title("codes by cluster (PCA)" if ae is not None else "inputs by cluster (PCA)")
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    if show:
        rec = ae.reconstruct(images[:8])
        for i in range(8):
            for row, img in ((0, images[i]), (1, rec[i])):
                a = fig.add_subplot(grid[row, i + 1])
                a.imshow(img.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
                a.set_axis_off()
                if i == 0:
                    a.set_title("original" if row == 0 else "rebuilt", fontsize=8)
    fig.savefig(path)
