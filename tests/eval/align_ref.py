"""Reference for tests/eval/align_test.ts: OpenCV warpAffine and scikit-image similarity.

Usage: /usr/bin/python3 align_ref.py IN.json OUT.json
IN:  {"warps": [{"w", "h", "img" (base64 RGB8 HWC), "m" (6 numbers), "outW", "outH"}],
      "estimates": [{"src": [x0, y0, ...], "dst": [...]}],
      "aligns": [{"w", "h", "img", "lmk" (10 numbers)}]}
OUT: {"warps": [base64 RGB8 HWC], "estimates": [[6 numbers row-major 2x3]],
      "aligns": [base64 RGB8 112x112]}
"aligns" is the alignment of the reference's eval_ijbc.py (Embedding.get), verbatim: float32
landmarks and template; with "f64": true, the same in float64 (template + 8 exact).
"""
import base64
import json
import sys

import cv2
import numpy as np
from skimage import transform as trans


def main():
    with open(sys.argv[1]) as f:
        req = json.load(f)
    warps = []
    for c in req.get("warps", []):
        img = np.frombuffer(base64.b64decode(c["img"]), np.uint8).reshape(c["h"], c["w"], 3)
        m = np.array(c["m"], np.float64).reshape(2, 3)
        out = cv2.warpAffine(img, m, (c["outW"], c["outH"]), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        warps.append(base64.b64encode(np.ascontiguousarray(out).tobytes()).decode())
    ests = []
    for e in req.get("estimates", []):
        t = trans.SimilarityTransform()
        t.estimate(np.array(e["src"], np.float64).reshape(-1, 2),
                   np.array(e["dst"], np.float64).reshape(-1, 2))
        ests.append(t.params[0:2, :].reshape(-1).tolist())
    # eval_ijbc.py: float32 template with x + 8, float32 landmarks, skimage, cv2.warpAffine
    src = np.array([[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366],
                    [33.5493, 92.3655], [62.7299, 92.2041]], dtype=np.float32)
    src[:, 0] += 8.0
    aligns = []
    for c in req.get("aligns", []):
        img = np.frombuffer(base64.b64decode(c["img"]), np.uint8).reshape(c["h"], c["w"], 3)
        dt = np.float64 if c.get("f64") else np.float32
        lmk = np.array(c["lmk"], dtype=dt).reshape((5, 2))
        dst = src
        if c.get("f64"):
            dst = np.array([[30.2946, 51.6963], [65.5318, 51.5014], [48.0252, 71.7366],
                            [33.5493, 92.3655], [62.7299, 92.2041]], dtype=np.float64)
            dst[:, 0] += 8.0
        tform = trans.SimilarityTransform()
        tform.estimate(lmk, dst)
        M = tform.params[0:2, :]
        out = cv2.warpAffine(img, M, (112, 112), borderValue=0.0)
        aligns.append(base64.b64encode(np.ascontiguousarray(out).tobytes()).decode())
    with open(sys.argv[2], "w") as f:
        json.dump({"warps": warps, "estimates": ests, "aligns": aligns}, f)


if __name__ == "__main__":
    main()
