"""Reference side of tests/eval/ijb_test.ts: arcface_torch eval_ijbc.py steps 3-4 in numpy.

usage: ijb_ref.py DIR NORM_IMAGE(0|1) DETECTOR(0|1)
Reads DIR/{feats,det,templates,medias,p1,p2}.npy (feats: the image + mirror embeddings,
float32 n x E) and writes DIR/ref_scores.npy (float64 pair scores).
"""
import os
import sys

import numpy as np
import sklearn.preprocessing


def main(root, norm_image, detector):
    load = lambda k: np.load(os.path.join(root, k + ".npy"))
    feats = load("feats")
    det = load("det").astype(np.float32)
    templates, medias = load("templates"), load("medias")
    p1, p2 = load("p1"), load("p2")
    if norm_image:  # the reference's use_norm_score=False
        feats = feats / np.sqrt(np.sum(feats ** 2, -1, keepdims=True))
    if detector:
        feats = feats * det[:, np.newaxis]
    ids = np.unique(templates)
    pooled = np.zeros((len(ids), feats.shape[1]))
    for row, t in enumerate(ids):
        in_t = feats[templates == t]
        med = medias[templates == t]
        parts = [in_t[med == m].mean(axis=0, keepdims=True) for m in np.unique(med)]
        pooled[row] = np.sum(np.array(parts), axis=0)
    pooled = sklearn.preprocessing.normalize(pooled)
    index = {t: i for i, t in enumerate(ids)}
    a = pooled[[index[t] for t in p1]]
    b = pooled[[index[t] for t in p2]]
    np.save(os.path.join(root, "ref_scores.npy"), np.sum(a * b, -1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1")
