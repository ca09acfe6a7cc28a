"""Reference side of tests/eval/roc_test.ts and tests/eval/ijb_test.ts.

usage: roc_ref.py DIR N
For k in 0..N-1 reads DIR/labels_k.npy and DIR/scores_k.npy, runs scikit-learn's
roc_curve/auc exactly as arcface_torch's eval_ijbc.py does, writes DIR/{fpr,tpr,thr}_k.npy
and prints one JSON list: per case the TAR@FAR cells ('%.2f' % (tpr * 100)) and the AUC.
If DIR/format.npy exists, also formats each of its values with '%.2f' (key "format").
"""
import json
import os
import sys

import numpy as np
from sklearn.metrics import auc, roc_curve

x_labels = [10 ** -6, 10 ** -5, 10 ** -4, 10 ** -3, 10 ** -2, 10 ** -1]


def main(root, n):
    out = []
    for k in range(n):
        label = np.load(os.path.join(root, "labels_%d.npy" % k))
        score = np.load(os.path.join(root, "scores_%d.npy" % k))
        fpr, tpr, thr = roc_curve(label, score)
        np.save(os.path.join(root, "fpr_%d.npy" % k), fpr)
        np.save(os.path.join(root, "tpr_%d.npy" % k), tpr)
        np.save(os.path.join(root, "thr_%d.npy" % k), thr)
        roc_auc = auc(fpr, tpr)
        fpr = np.flipud(fpr)
        tpr = np.flipud(tpr)
        row = []
        for x in x_labels:
            # the evaluation script takes min(zip(abs(fpr - x), range(len(fpr)))) over the
            # reversed arrays: the first minimum, which is what np.argmin returns
            best = int(np.argmin(np.abs(fpr - x)))
            row.append("%.2f" % (tpr[best] * 100))
        out.append({"table": row, "auc": repr(float(roc_auc))})
    res = {"cases": out}
    fmt = os.path.join(root, "format.npy")
    if os.path.exists(fmt):
        res["format"] = ["%.2f" % v for v in np.load(fmt)]
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
