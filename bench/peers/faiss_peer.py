#!/usr/bin/env python3
"""Reference peer for `warden bench search`: FAISS exact flat indexes, one thread.

Reads the gallery and queries Warden wrote (raw little-endian float32, 128 per row),
searches each query alone (k=10, as a door does: one face at a time) with IndexFlatIP and
IndexFlatL2, and prints per-query latencies and the top-10 row ids as JSON.
"""
import argparse, json, time

import faiss
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gallery", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--k", type=int, default=10)
    a = ap.parse_args()
    faiss.omp_set_num_threads(1)
    xb = np.fromfile(a.gallery, dtype="<f4").reshape(-1, 128)
    xq = np.fromfile(a.queries, dtype="<f4").reshape(-1, 128)
    out = {"faiss_version": faiss.__version__}
    for name, index in (("IndexFlatIP", faiss.IndexFlatIP(128)), ("IndexFlatL2", faiss.IndexFlatL2(128))):
        index.add(xb)
        index.search(xq[:1], a.k)  # warm-up
        lat, ids = [], []
        t_all = time.perf_counter()
        for i in range(len(xq)):
            t = time.perf_counter()
            _, I = index.search(xq[i:i + 1], a.k)
            lat.append((time.perf_counter() - t) * 1000.0)
            ids.append([int(x) for x in I[0]])
        total = time.perf_counter() - t_all
        out[name] = {"latency_ms": lat, "qps": len(xq) / total, "top": ids}
        del index
    print(json.dumps(out))


if __name__ == "__main__":
    main()
