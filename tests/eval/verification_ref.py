"""Independent implementation of the .bin verification protocol, for tests.

    /usr/bin/python3 tests/eval/verification_ref.py CASE_DIR [CASE_DIR ...]

Each CASE_DIR holds emb.npy (2P x E float32), flip.npy (same) and issame.npy (P bool).
Prints one JSON object per case (a JSON list): fold accuracies, their mean and std, XNorm,
the fold thresholds, the averaged ROC and VAL/FAR at 1e-3.

Written from the protocol's description with scikit-learn's KFold and numpy loops over the
thresholds; shares no code with src/eval/verification.ts.
"""

import json
import os
import sys

import numpy as np
from sklearn.model_selection import KFold
from sklearn.preprocessing import normalize


def rates(threshold, dist, same):
    pred = dist < threshold
    tp = np.sum(pred & same)
    fp = np.sum(pred & ~same)
    tn = np.sum(~pred & ~same)
    fn = np.sum(~pred & same)
    tpr = 0.0 if tp + fn == 0 else tp / (tp + fn)
    fpr = 0.0 if fp + tn == 0 else fp / (fp + tn)
    return tpr, fpr, (tp + tn) / dist.size


def val_far(threshold, dist, same):
    pred = dist < threshold
    n_same = np.sum(same)
    n_diff = np.sum(~same)
    val = np.sum(pred & same) / n_same if n_same else float("nan")
    far = np.sum(pred & ~same) / n_diff if n_diff else float("nan")
    return val, far


def run(case):
    emb = np.load(os.path.join(case, "emb.npy")).astype(np.float64)
    flip = np.load(os.path.join(case, "flip.npy")).astype(np.float64)
    same = np.load(os.path.join(case, "issame.npy")).astype(bool)
    xnorm = float(np.mean(np.concatenate([np.linalg.norm(emb, axis=1), np.linalg.norm(flip, axis=1)])))
    e = normalize(emb + flip)
    dist = np.sum((e[0::2] - e[1::2]) ** 2, axis=1)
    n = len(same)
    kf = KFold(n_splits=10, shuffle=False)

    thresholds = np.arange(0, 4, 0.01)
    accs, fold_thr = [], []
    tprs = np.zeros((10, len(thresholds)))
    fprs = np.zeros((10, len(thresholds)))
    for f, (train, test) in enumerate(kf.split(np.arange(n))):
        train_acc = np.array([rates(t, dist[train], same[train])[2] for t in thresholds])
        best = int(np.argmax(train_acc))
        for i, t in enumerate(thresholds):
            tprs[f, i], fprs[f, i], _ = rates(t, dist[test], same[test])
        accs.append(rates(thresholds[best], dist[test], same[test])[2])
        fold_thr.append(float(thresholds[best]))
    all_acc = np.array([rates(t, dist, same)[2] for t in thresholds])

    vthr = np.arange(0, 4, 0.001)
    vals, fars = [], []
    for train, test in kf.split(np.arange(n)):
        far_train = np.array([val_far(t, dist[train], same[train])[1] for t in vthr])
        if np.max(far_train) >= 1e-3:
            # far_train is non-decreasing with plateaus; np.interp then interpolates between the
            # last point of the plateau at or below the target and the next point.
            thr = float(np.interp(1e-3, far_train, vthr))
        else:
            thr = 0.0
        v, fa = val_far(thr, dist[test], same[test])
        vals.append(v)
        fars.append(fa)

    return {
        "foldAccuracies": [float(a) for a in accs],
        "accuracy": float(np.mean(accs)),
        "std": float(np.std(accs)),
        "foldThresholds": fold_thr,
        "bestThreshold": float(thresholds[int(np.argmax(all_acc))]),
        "xnorm": xnorm,
        "tpr": np.mean(tprs, 0).tolist(),
        "fpr": np.mean(fprs, 0).tolist(),
        "val": float(np.mean(vals)),
        "valStd": float(np.std(vals)),
        "far": float(np.mean(fars)),
    }


if __name__ == "__main__":
    print(json.dumps([run(c) for c in sys.argv[1:]]))
