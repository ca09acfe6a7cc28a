/**
 * Face alignment as in the reference's IJB evaluation (eval_ijbc.py): the 5 detected landmarks
 * (eyes, nose tip, mouth corners) are mapped onto the ArcFace 112×112 template by the
 * least-squares similarity transform (Umeyama, as scikit-image's
 * `SimilarityTransform().estimate(src, dst)`), and the image is warped with
 * `cv2.warpAffine(img, M, (112, 112), flags=INTER_LINEAR, borderValue=0)`.
 *
 * {@link warpAffine} reproduces OpenCV 4.x's fixed-point bilinear warp bit for bit: the
 * inverse map is evaluated per output pixel in fixed point (10 fractional bits, each row and
 * column term rounded half-to-even like `cvRound`), quantised to 1/32 pixel, and the four
 * neighbours are blended with 15-bit integer weights `(32−fy)(32−fx)·32` … with rounding
 * `(Σ + 2¹⁴) >> 15`. Neighbours outside the source count as 0 (BORDER_CONSTANT, value 0).
 * Pixel centres are at integer coordinates: output pixel (x, y) samples the source at
 * M⁻¹·(x, y).
 *
 * @module
 */

/** The ArcFace 112×112 template, x0, y0, …, x4, y4: left eye, right eye, nose, mouth corners. */
export const ARCFACE_TEMPLATE: readonly number[] = Object.freeze([
  38.2946,
  51.6963,
  73.5318,
  51.5014,
  56.0252,
  71.7366,
  41.5493,
  92.3655,
  70.7299,
  92.2041,
]);

/** Side of an aligned face. */
export const ALIGNED_SIZE = 112;

function checkPoints(p: ArrayLike<number>, what: string): void {
  if (p.length % 2 !== 0) {
    throw new Error(
      `${what}: ${p.length} numbers, an odd count; expected x0, y0, x1, y1, … (2 per point)`,
    );
  }
  for (let i = 0; i < p.length; i++) {
    if (!Number.isFinite(p[i])) {
      throw new Error(
        `${what}: value ${p[i]} at index ${i} (point ${i >> 1}, ${
          i % 2 ? "y" : "x"
        }) is not a finite number; drop or fix this detection`,
      );
    }
  }
}

/**
 * The least-squares similarity transform (rotation, uniform scale, translation; never a
 * reflection) that maps the points `src` (x0, y0, x1, y1, …) onto `dst` (default: the ArcFace
 * template), as scikit-image's `SimilarityTransform().estimate(src, dst)` (Umeyama). Returns
 * the 2×3 row-major matrix M with dst ≈ M·[x, y, 1].
 *
 * Throws when the counts are odd or differ, a value is not finite, there are fewer than two
 * points, or all points of `src` (or of `dst`) coincide.
 */
export function estimateSimilarity(
  src: ArrayLike<number>,
  dst: ArrayLike<number> = ARCFACE_TEMPLATE,
): Float64Array {
  checkPoints(src, "estimateSimilarity: source landmarks");
  checkPoints(dst, "estimateSimilarity: destination points");
  if (src.length !== dst.length) {
    throw new Error(
      `estimateSimilarity: ${src.length / 2} source landmarks but ${
        dst.length / 2
      } destination points; pass one source point per destination point`,
    );
  }
  const n = src.length / 2;
  if (n < 2) {
    throw new Error(`estimateSimilarity: ${n} point(s); a similarity needs at least 2 points`);
  }
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[2 * i], sy += src[2 * i + 1], dx += dst[2 * i], dy += dst[2 * i + 1];
  }
  sx /= n, sy /= n, dx /= n, dy /= n;
  // Σ|p|², Σ p·q and Σ p×q over the demeaned points p (src) and q (dst)
  let pp = 0, qq = 0, dot = 0, cross = 0, smax = 0, dmax = 0;
  for (let i = 0; i < n; i++) {
    const px = src[2 * i] - sx, py = src[2 * i + 1] - sy;
    const qx = dst[2 * i] - dx, qy = dst[2 * i + 1] - dy;
    pp += px * px + py * py;
    qq += qx * qx + qy * qy;
    dot += px * qx + py * qy;
    cross += px * qy - py * qx;
    smax = Math.max(smax, Math.abs(src[2 * i]), Math.abs(src[2 * i + 1]));
    dmax = Math.max(dmax, Math.abs(dst[2 * i]), Math.abs(dst[2 * i + 1]));
  }
  const tiny = (m: number) => 1e-10 * Math.max(1, m);
  if (!(Math.sqrt(pp / n) > tiny(smax))) {
    throw new Error(
      `estimateSimilarity: all ${n} source landmarks coincide (at ${sx}, ${sy}); ` +
        "a degenerate detection cannot be aligned",
    );
  }
  if (!(Math.sqrt(qq / n) > tiny(dmax))) {
    throw new Error(`estimateSimilarity: all ${n} destination points coincide (at ${dx}, ${dy})`);
  }
  // The Umeyama solution in 2-D with the no-reflection constraint: scale·R = [[a, −b], [b, a]]
  // with a = Σp·q / Σ|p|², b = Σp×q / Σ|p|² (the maximiser of tr(Rᵀ·Σqpᵀ) over proper rotations).
  const a = dot / pp, b = cross / pp;
  const m = new Float64Array(6);
  m[0] = a, m[1] = -b, m[2] = dx - (a * sx - b * sy);
  m[3] = b, m[4] = a, m[5] = dy - (b * sx + a * sy);
  return m;
}

/** cvRound with saturate_cast<int>: round half to even, clamp to the int32 range. */
function roundSat(v: number): number {
  if (v >= 2147483647) return 2147483647;
  if (v <= -2147483648) return -2147483648;
  if (v !== v) return 0;
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return (f & 1) === 0 ? f : f + 1;
}

const sat16 = (v: number) => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);

function checkImage(src: Uint8Array, width: number, height: number, what: string): void {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`${what}: image size ${width}x${height} is not a positive integer size`);
  }
  if (src.length < width * height * 3) {
    throw new Error(
      `${what}: pixel buffer of ${src.length} bytes is smaller than ${width}x${height}x3 = ` +
        `${width * height * 3} (RGB8 HWC expected)`,
    );
  }
}

/**
 * Warps an RGB8 HWC image by the 2×3 matrix `m` (mapping source to output coordinates) into an
 * `outW`×`outH` image, bit-exactly as OpenCV 4.x `cv2.warpAffine(src, m, (outW, outH),
 * flags=INTER_LINEAR, borderMode=BORDER_CONSTANT, borderValue=0)`. Integer arithmetic only, no
 * allocation per pixel. Writes into `out` when given (at least outW·outH·3 bytes).
 *
 * Throws on a bad size or buffer, a non-finite matrix or a singular one.
 */
export function warpAffine(
  src: Uint8Array,
  width: number,
  height: number,
  m: ArrayLike<number>,
  outW = ALIGNED_SIZE,
  outH = ALIGNED_SIZE,
  out?: Uint8Array,
): Uint8Array {
  checkImage(src, width, height, "warpAffine");
  if (!(Number.isInteger(outW) && Number.isInteger(outH) && outW > 0 && outH > 0)) {
    throw new Error(`warpAffine: output size ${outW}x${outH} is not a positive integer size`);
  }
  if (m.length !== 6) {
    throw new Error(`warpAffine: matrix has ${m.length} numbers; expected a 2x3 row-major (6)`);
  }
  for (let i = 0; i < 6; i++) {
    if (!Number.isFinite(m[i])) {
      throw new Error(`warpAffine: matrix entry ${i} is ${m[i]}; expected a finite number`);
    }
  }
  const nOut = outW * outH * 3;
  if (out === undefined) out = new Uint8Array(nOut);
  else if (out.length < nOut) {
    throw new Error(`warpAffine: output buffer of ${out.length} bytes < ${outW}x${outH}x3`);
  }
  // The inverse map, computed in the order OpenCV's warpAffine does (bit-exact doubles).
  let m0 = +m[0], m1 = +m[1], m2 = +m[2], m3 = +m[3], m4 = +m[4], m5 = +m[5];
  let det = m0 * m4 - m1 * m3;
  if (det === 0 || !Number.isFinite(1 / det)) {
    throw new Error(`warpAffine: matrix [${Array.from(m).join(", ")}] is singular`);
  }
  det = 1 / det;
  const a11 = m4 * det, a22 = m0 * det;
  m0 = a11;
  m1 *= -det;
  m3 *= -det;
  m4 = a22;
  const b1 = -m0 * m2 - m1 * m5;
  const b2 = -m3 * m2 - m4 * m5;
  m2 = b1;
  m5 = b2;

  const AB = 1024; // AB_SCALE = 1 << AB_BITS, AB_BITS = 10
  const ROUND = 16; // AB_SCALE / INTER_TAB_SIZE / 2
  const adelta = new Int32Array(outW), bdelta = new Int32Array(outW);
  for (let x = 0; x < outW; x++) {
    adelta[x] = roundSat(m0 * x * AB);
    bdelta[x] = roundSat(m3 * x * AB);
  }
  const sstep = width * 3;
  const w1 = width - 1, h1 = height - 1;
  let o = 0;
  for (let y = 0; y < outH; y++) {
    const X0 = (roundSat((m1 * y + m2) * AB) + ROUND) | 0;
    const Y0 = (roundSat((m4 * y + m5) * AB) + ROUND) | 0;
    for (let x = 0; x < outW; x++, o += 3) {
      const X = ((X0 + adelta[x]) | 0) >> 5;
      const Y = ((Y0 + bdelta[x]) | 0) >> 5;
      const sx = sat16(X >> 5), sy = sat16(Y >> 5);
      const fx = X & 31, fy = Y & 31;
      // 15-bit weights of the four neighbours (they sum to 32768)
      const gx = 32 - fx, gy = 32 - fy;
      const w00 = gy * gx * 32, w01 = gy * fx * 32, w10 = fy * gx * 32, w11 = fy * fx * 32;
      if (sx >= 0 && sx < w1 && sy >= 0 && sy < h1) {
        const p = sy * sstep + sx * 3, q = p + sstep;
        out[o] = (src[p] * w00 + src[p + 3] * w01 + src[q] * w10 + src[q + 3] * w11 + 16384) >> 15;
        out[o + 1] = (src[p + 1] * w00 + src[p + 4] * w01 + src[q + 1] * w10 + src[q + 4] * w11 +
          16384) >> 15;
        out[o + 2] = (src[p + 2] * w00 + src[p + 5] * w01 + src[q + 2] * w10 + src[q + 5] * w11 +
          16384) >> 15;
      } else if (sx >= width || sx + 1 < 0 || sy >= height || sy + 1 < 0) {
        out[o] = 0, out[o + 1] = 0, out[o + 2] = 0;
      } else {
        // on the border: neighbours outside the source are 0
        const x0in = sx >= 0, x1in = sx + 1 < width, y0in = sy >= 0, y1in = sy + 1 < height;
        const p = sy * sstep + sx * 3, q = p + sstep;
        for (let k = 0; k < 3; k++) {
          let s = 16384;
          if (y0in) {
            if (x0in) s += src[p + k] * w00;
            if (x1in) s += src[p + 3 + k] * w01;
          }
          if (y1in) {
            if (x0in) s += src[q + k] * w10;
            if (x1in) s += src[q + 3 + k] * w11;
          }
          out[o + k] = s >> 15;
        }
      }
    }
  }
  return out;
}

/**
 * Aligns a face: estimates the similarity from the 5 `landmarks` (x0, y0, …, x4, y4 in pixels
 * of the RGB8 HWC image) onto {@link ARCFACE_TEMPLATE} and warps the image to 112×112 with a
 * zero border, as the reference's eval_ijbc.py. Writes into `out` when given.
 *
 * The estimate is computed in float64. eval_ijbc.py parses landmarks and holds the template as
 * float32, so scikit-image runs Umeyama in float32 there and its matrix differs from the exact
 * one by ~1e-6 relative; that moves a sampling position across a 1/32-pixel step for about
 * 2 in 10⁴ output values, changing them by at most the source's neighbour difference / 32
 * (≤ 1 grey level on smooth images inside the source; up to 255/32 where the sample straddles
 * the image edge and the zero border). Given the same matrix, the warp is bit-exact.
 */
export function alignFace(
  rgb: Uint8Array,
  width: number,
  height: number,
  landmarks: ArrayLike<number>,
  out?: Uint8Array,
): Uint8Array {
  if (landmarks.length !== 10) {
    throw new Error(
      `alignFace: ${landmarks.length} landmark numbers; expected 10 (5 points x, y: ` +
        "left eye, right eye, nose tip, left and right mouth corner)",
    );
  }
  checkImage(rgb, width, height, "alignFace");
  const m = estimateSimilarity(landmarks, ARCFACE_TEMPLATE);
  return warpAffine(rgb, width, height, m, ALIGNED_SIZE, ALIGNED_SIZE, out);
}
