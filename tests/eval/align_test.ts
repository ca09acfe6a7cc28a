/**
 * Face alignment: similarity estimation against known transforms and scikit-image, warping
 * against cv2.warpAffine (bit-exact) and against a float64 bilinear reference, and bad input.
 * Python (/usr/bin/python3 with cv2 and skimage) runs once per test through align_ref.py.
 */
import assert from "node:assert/strict";
import {
  alignFace,
  ARCFACE_TEMPLATE,
  estimateSimilarity,
  warpAffine,
} from "../../src/eval/align.ts";
import { rand, randn, SEED } from "../util.ts";

const HERE = new URL(".", import.meta.url).pathname;

interface WarpCase {
  w: number;
  h: number;
  img: Uint8Array;
  m: number[];
  outW: number;
  outH: number;
}

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function unb64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Runs align_ref.py on the cases; returns cv2's warps and skimage's estimates. */
async function reference(
  warps: WarpCase[],
  estimates: { src: number[]; dst: number[] }[],
  aligns: { w: number; h: number; img: Uint8Array; lmk: number[]; f64: boolean }[] = [],
): Promise<{ warps: Uint8Array[]; estimates: number[][]; aligns: Uint8Array[] }> {
  const dir = await Deno.makeTempDir({ prefix: "align_test_" });
  try {
    const req = {
      warps: warps.map((c) => ({ ...c, img: b64(c.img) })),
      estimates,
      aligns: aligns.map((c) => ({ ...c, img: b64(c.img) })),
    };
    await Deno.writeTextFile(`${dir}/in.json`, JSON.stringify(req));
    const r = await new Deno.Command("/usr/bin/python3", {
      args: [`${HERE}align_ref.py`, `${dir}/in.json`, `${dir}/out.json`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) {
      throw new Error(`align_ref.py failed:\n${new TextDecoder().decode(r.stderr)}`);
    }
    const res = JSON.parse(await Deno.readTextFile(`${dir}/out.json`));
    return {
      warps: res.warps.map(unb64),
      estimates: res.estimates,
      aligns: res.aligns.map(unb64),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Applies the 2×3 matrix m to the points p. */
function apply(m: ArrayLike<number>, p: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < p.length; i += 2) {
    out.push(m[0] * p[i] + m[1] * p[i + 1] + m[2], m[3] * p[i] + m[4] * p[i + 1] + m[5]);
  }
  return out;
}

/** A random similarity [s·cos, −s·sin, tx; s·sin, s·cos, ty]. */
function randomSimilarity(): number[] {
  const a = (rand() * 2 - 1) * Math.PI, s = 0.3 + rand() * 2.7;
  const c = s * Math.cos(a), n = s * Math.sin(a);
  return [c, -n, (rand() * 2 - 1) * 150, n, c, (rand() * 2 - 1) * 150];
}

function invert(m: number[]): number[] {
  const d = m[0] * m[4] - m[1] * m[3];
  const i0 = m[4] / d, i1 = -m[1] / d, i3 = -m[3] / d, i4 = m[0] / d;
  return [i0, i1, -(i0 * m[2] + i1 * m[5]), i3, i4, -(i3 * m[2] + i4 * m[5])];
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

Deno.test("estimateSimilarity recovers known transforms and matches scikit-image", async () => {
  // exact landmarks: template mapped by a known T; the estimate is T⁻¹
  for (let t = 0; t < 50; t++) {
    const T = randomSimilarity();
    const lm = apply(T, ARCFACE_TEMPLATE);
    const m = estimateSimilarity(lm);
    const truth = invert(T);
    const scale = Math.max(1, Math.abs(truth[2]), Math.abs(truth[5]));
    assert.ok(
      maxAbsDiff(m, truth) < 1e-9 * scale,
      `case ${t}: M ${Array.from(m)} vs known ${truth} (seed ${SEED})`,
    );
    assert.ok(maxAbsDiff(apply(m, lm), ARCFACE_TEMPLATE) < 1e-4, `case ${t} (seed ${SEED})`);
  }
  // noisy landmarks onto the template, and random point sets onto random points (which
  // include sets whose best linear fit is a reflection): compare with skimage
  const estimates: { src: number[]; dst: number[] }[] = [];
  for (let t = 0; t < 40; t++) {
    const lm = apply(randomSimilarity(), ARCFACE_TEMPLATE);
    const noise = randn(10, 0.5 + 3 * rand());
    estimates.push({ src: lm.map((v, i) => v + noise[i]), dst: [...ARCFACE_TEMPLATE] });
  }
  for (let t = 0; t < 40; t++) {
    const n = 2 + Math.floor(rand() * 8);
    const src = Array.from(randn(2 * n, 50));
    const dst = Array.from(randn(2 * n, 30)).map((v) => v + 20);
    estimates.push({ src, dst });
  }
  const ref = await reference([], estimates);
  let worst = 0;
  estimates.forEach((e, i) => {
    const m = estimateSimilarity(e.src, e.dst);
    const d = maxAbsDiff(m, ref.estimates[i]);
    worst = Math.max(worst, d);
    assert.ok(d < 1e-6, `estimate ${i}: ${Array.from(m)} vs skimage ${ref.estimates[i]}`);
  });
  console.log(`max |M − skimage| over ${estimates.length} sets: ${worst.toExponential(2)}`);
});

/** A random forward matrix that maps a w×h source into an outW×outH output, often partly off. */
function randomWarp(w: number, h: number, outW: number, outH: number, kind: number): number[] {
  if (kind === 0) {
    // ties in the fixed-point rounding: translations and scales on a 1/2048 grid
    const s = [0.5, 1, 2, 0.25, 1.5][Math.floor(rand() * 5)];
    const tx = Math.round((rand() * 2 - 1) * 40 * 2048) / 2048;
    const ty = Math.round((rand() * 2 - 1) * 40 * 2048) / 2048;
    return [s, 0, tx, 0, s, ty];
  }
  const a = (rand() * 2 - 1) * Math.PI * (kind === 1 ? 0.15 : 1);
  const s = (Math.min(outW, outH) / Math.min(w, h)) * (0.4 + rand() * 1.6);
  const c = s * Math.cos(a), n = s * Math.sin(a);
  const m = [c, -n, 0, n, c, 0];
  if (kind === 3) {
    // a general affine (shear, anisotropic)
    m[1] += (rand() - 0.5) * s, m[3] += (rand() - 0.5) * s, m[4] *= 0.6 + rand() * 0.8;
  }
  // centre of the source near the centre of the output, with an offset that may push the
  // output partly outside the source
  const cx = w / 2 + (rand() * 2 - 1) * w * 0.6, cy = h / 2 + (rand() * 2 - 1) * h * 0.6;
  m[2] = outW / 2 - (m[0] * cx + m[1] * cy);
  m[5] = outH / 2 - (m[3] * cx + m[4] * cy);
  return m;
}

function randomImage(w: number, h: number, smooth: boolean): Uint8Array {
  const img = new Uint8Array(w * h * 3);
  if (!smooth) {
    for (let i = 0; i < img.length; i++) img[i] = Math.floor(rand() * 256);
    return img;
  }
  const f: number[] = [];
  for (let k = 0; k < 9; k++) f.push((rand() * 2 - 1) * 0.08);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < 3; k++) {
        img[3 * (y * w + x) + k] = Math.round(
          127.5 + 60 * Math.sin(f[3 * k] * x + f[3 * k + 1] * y + 10 * f[3 * k + 2]) +
            50 * Math.cos(f[(3 * k + 4) % 9] * x - f[(3 * k + 5) % 9] * y),
        );
      }
    }
  }
  return img;
}

Deno.test("warpAffine is bit-exact with cv2.warpAffine (INTER_LINEAR, zero border)", async () => {
  const cases: WarpCase[] = [];
  for (let t = 0; t < 48; t++) {
    const w = 8 + Math.floor(rand() * 250), h = 8 + Math.floor(rand() * 250);
    const outW = t % 3 === 0 ? 112 : 4 + Math.floor(rand() * 150);
    const outH = t % 3 === 0 ? 112 : 4 + Math.floor(rand() * 150);
    cases.push({
      w,
      h,
      img: randomImage(w, h, t % 2 === 1),
      m: randomWarp(w, h, outW, outH, t % 4),
      outW,
      outH,
    });
  }
  const ref = await reference(cases, []);
  let worst = 0, zeroBorder = 0;
  cases.forEach((c, i) => {
    const ours = warpAffine(c.img, c.w, c.h, c.m, c.outW, c.outH);
    const d = maxAbsDiff(ours, ref.warps[i]);
    worst = Math.max(worst, d);
    let diffs = 0;
    for (let k = 0; k < ours.length; k++) if (ours[k] !== ref.warps[i][k]) diffs++;
    assert.equal(
      diffs,
      0,
      `case ${i} (${c.w}x${c.h} → ${c.outW}x${c.outH}, M=${c.m}): ${diffs} bytes differ, ` +
        `max ${d} (seed ${SEED})`,
    );
    const inv = invert(c.m);
    const [sx, sy] = apply(inv, [0, 0]);
    if (sx < -1 || sy < -1 || sx > c.w || sy > c.h) zeroBorder++;
  });
  assert.ok(zeroBorder > 0, "no case put part of the output outside the source");
  console.log(`cv2 comparison: ${cases.length} cases, max |diff| ${worst}`);
});

Deno.test("alignFace vs the alignment of eval_ijbc.py (float32 and float64)", async () => {
  const cases: { w: number; h: number; img: Uint8Array; lmk: number[]; f64: boolean }[] = [];
  for (let t = 0; t < 16; t++) {
    const w = 120 + Math.floor(rand() * 160), h = 120 + Math.floor(rand() * 160);
    const a = (rand() * 2 - 1) * 0.5, s = 0.7 + rand() * 1.3;
    const T = [
      s * Math.cos(a),
      -s * Math.sin(a),
      w / 2 - 56 * s + (rand() * 2 - 1) * 20,
      s * Math.sin(a),
      s * Math.cos(a),
      h / 2 - 56 * s + (rand() * 2 - 1) * 20,
    ];
    const noise = randn(10, 1.5);
    // 3-decimal landmarks as in the IJB files
    const lmk = apply(T, ARCFACE_TEMPLATE).map((v, i) => Math.round((v + noise[i]) * 1000) / 1000);
    // even cases: random noise images; odd: smooth ones
    cases.push({ w, h, img: randomImage(w, h, t % 2 === 1), lmk, f64: t % 4 >= 2 });
  }
  const ref = await reference([], [], cases);
  let diff32 = 0, n32 = 0, max32 = 0, smooth32 = 0, diff64 = 0;
  cases.forEach((c, i) => {
    const ours = alignFace(c.img, c.w, c.h, c.lmk);
    let d = 0;
    for (let k = 0; k < ours.length; k++) if (ours[k] !== ref.aligns[i][k]) d++;
    if (c.f64) {
      diff64 += d;
    } else {
      diff32 += d, n32 += ours.length;
      max32 = Math.max(max32, maxAbsDiff(ours, ref.aligns[i]));
      if (i % 2 === 1) {
        // smooth images: ≤ 1 grey level where the 2×2 sample lies inside the source; at the
        // image edge a 1/32-px step mixes in the zero border and may move up to 255/32
        const inv = invert(Array.from(estimateSimilarity(c.lmk)));
        for (let y = 0; y < 112; y++) {
          for (let x = 0; x < 112; x++) {
            const [sx, sy] = apply(inv, [x, y]);
            if (sx < 1 || sy < 1 || sx > c.w - 2 || sy > c.h - 2) continue;
            for (let k = 0; k < 3; k++) {
              const o = 3 * (y * 112 + x) + k;
              smooth32 = Math.max(smooth32, Math.abs(ours[o] - ref.aligns[i][o]));
            }
          }
        }
      }
    }
  });
  console.log(
    `eval_ijbc.py (float32 Umeyama): ${diff32} of ${n32} values differ, max |diff| ${max32} ` +
      `(smooth images inside the source ${smooth32}); with float64 inputs: ${diff64} values differ`,
  );
  // float64 inputs: the same matrix to ~1e-13, hence the same pixels
  assert.equal(diff64, 0, `seed ${SEED}`);
  // float32 in the reference: rare 1/32-px steps (see alignFace's doc)
  assert.ok(diff32 < 2e-3 * n32, `${diff32} values differ (seed ${SEED})`);
  assert.ok(
    smooth32 <= 1,
    `smooth images inside the source: max |diff| ${smooth32} (seed ${SEED})`,
  );
  assert.ok(max32 <= 255 / 32 + 1, `max |diff| ${max32} (seed ${SEED})`);
});

/** Plain float64 bilinear: output pixel (x, y) samples src at M⁻¹·(x, y), zero outside. */
function referenceWarp(c: WarpCase): { out: Float64Array; inner: Uint8Array } {
  const inv = invert(c.m);
  const out = new Float64Array(c.outW * c.outH * 3);
  const inner = new Uint8Array(c.outW * c.outH);
  const px = (x: number, y: number, k: number) =>
    x >= 0 && x < c.w && y >= 0 && y < c.h ? c.img[3 * (y * c.w + x) + k] : 0;
  for (let y = 0; y < c.outH; y++) {
    for (let x = 0; x < c.outW; x++) {
      const sx = inv[0] * x + inv[1] * y + inv[2], sy = inv[3] * x + inv[4] * y + inv[5];
      const x0 = Math.floor(sx), y0 = Math.floor(sy), fx = sx - x0, fy = sy - y0;
      inner[y * c.outW + x] = sx >= 1 && sy >= 1 && sx <= c.w - 2 && sy <= c.h - 2 ? 1 : 0;
      for (let k = 0; k < 3; k++) {
        out[3 * (y * c.outW + x) + k] =
          (1 - fy) * ((1 - fx) * px(x0, y0, k) + fx * px(x0 + 1, y0, k)) +
          fy * ((1 - fx) * px(x0, y0 + 1, k) + fx * px(x0 + 1, y0 + 1, k));
      }
    }
  }
  return { out, inner };
}

Deno.test("warpAffine matches a float64 bilinear reference to 1 grey level", () => {
  // Smooth images: OpenCV quantises coordinates to 1/32 px, which on an image whose neighbours
  // differ by at most g moves a value by up to g/32; the result is rounded (≤ 0.5). Away from
  // the source border g ≤ 110·0.08·√2 + 1 ≈ 13.4 here, so |diff| ≤ 0.5 + 13.4/32 < 1.
  // Across the source border the image jumps to 0 (g up to 255), where the bound is 255/32.
  let worstInner = 0, worstBorder = 0, inner = 0, border = 0;
  for (let t = 0; t < 12; t++) {
    const w = 20 + Math.floor(rand() * 230), h = 20 + Math.floor(rand() * 230);
    const c = {
      w,
      h,
      img: randomImage(w, h, true),
      m: randomWarp(w, h, 112, 112, 1 + (t % 3)),
      outW: 112,
      outH: 112,
    };
    const ours = warpAffine(c.img, c.w, c.h, c.m);
    const ref = referenceWarp(c);
    for (let p = 0; p < 112 * 112; p++) {
      for (let k = 0; k < 3; k++) {
        const d = Math.abs(ours[3 * p + k] - ref.out[3 * p + k]);
        if (ref.inner[p]) worstInner = Math.max(worstInner, d), inner++;
        else worstBorder = Math.max(worstBorder, d), border++;
      }
    }
  }
  console.log(
    `float64 reference: max |diff| ${worstInner.toFixed(3)} inside (${inner} values), ` +
      `${worstBorder.toFixed(3)} at/outside the border (${border} values)`,
  );
  assert.ok(inner > 10000 && border > 1000, "cases did not cover both regions");
  assert.ok(worstInner <= 1, `inside the source: max |diff| ${worstInner} > 1 (seed ${SEED})`);
  assert.ok(worstBorder <= 255 / 32 + 1, `border: max |diff| ${worstBorder} (seed ${SEED})`);
});

Deno.test("alignFace maps the landmarks onto the template and is fast", () => {
  // a source image whose pixel (x, y) encodes (x, y): alignment must fetch the template
  // location's pixel from the landmark location
  const w = 250, h = 250;
  const img = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) img[3 * (y * w + x)] = x, img[3 * (y * w + x) + 1] = y;
  }
  const a = (rand() - 0.5) * 0.6, s = 0.9 + rand();
  const T = [s * Math.cos(a), -s * Math.sin(a), 60, s * Math.sin(a), s * Math.cos(a), 40];
  const lm = apply(T, ARCFACE_TEMPLATE);
  const out = alignFace(img, w, h, lm);
  for (let i = 0; i < 5; i++) {
    const tx = Math.round(ARCFACE_TEMPLATE[2 * i]), ty = Math.round(ARCFACE_TEMPLATE[2 * i + 1]);
    const [ex, ey] = apply(T, [tx, ty]);
    const o = 3 * (ty * 112 + tx);
    assert.ok(Math.abs(out[o] - ex) <= 1 && Math.abs(out[o + 1] - ey) <= 1, `landmark ${i}`);
  }
  // speed: 250×250 → 112×112
  const buf = new Uint8Array(112 * 112 * 3);
  const m = estimateSimilarity(lm);
  for (let i = 0; i < 50; i++) warpAffine(img, w, h, m, 112, 112, buf);
  const n = 500, t0 = performance.now();
  for (let i = 0; i < n; i++) warpAffine(img, w, h, m, 112, 112, buf);
  const rate = n / ((performance.now() - t0) / 1000);
  console.log(`warpAffine 250x250 → 112x112: ${rate.toFixed(0)} warps/s`);
  assert.ok(rate > 300, `only ${rate.toFixed(0)} warps/s`);
});

Deno.test("bad landmarks and images are rejected with a message naming the problem", () => {
  const img = new Uint8Array(64 * 64 * 3);
  const lm = [...ARCFACE_TEMPLATE].map((v) => v * 0.5);
  assert.throws(() => alignFace(img, 64, 64, lm.slice(0, 8)), /8 landmark numbers; expected 10/);
  assert.throws(() => alignFace(img, 64, 64, [...lm, 1, 2]), /12 landmark numbers/);
  const nan = lm.slice();
  nan[3] = NaN;
  assert.throws(() => alignFace(img, 64, 64, nan), /NaN at index 3 \(point 1, y\)/);
  const inf = lm.slice();
  inf[6] = Infinity;
  assert.throws(() => estimateSimilarity(inf), /Infinity at index 6/);
  assert.throws(() => alignFace(img, 64, 64, new Array(10).fill(17.3)), /coincide/);
  assert.throws(() => estimateSimilarity([1, 2, 3]), /odd count/);
  assert.throws(() => estimateSimilarity([1, 2, 3, 4]), /2 source landmarks but 5/);
  assert.throws(() => estimateSimilarity([1, 2], [3, 4]), /at least 2 points/);
  assert.throws(() => alignFace(img, 64, 65, lm), /smaller than 64x65x3/);
  assert.throws(() => alignFace(img, 0, 64, lm), /not a positive integer size/);
  assert.throws(() => warpAffine(img, 64, 64, [1, 0, 0, 2, 0, 0]), /singular/);
  assert.throws(() => warpAffine(img, 64, 64, [1, 0, 0, 0, 1]), /expected a 2x3/);
  assert.throws(() => warpAffine(img, 64, 64, [1, 0, NaN, 0, 1, 0]), /entry 2 is NaN/);
  assert.throws(
    () => warpAffine(img, 64, 64, [1, 0, 0, 0, 1, 0], 112, 112, new Uint8Array(10)),
    /output buffer/,
  );
});
