/**
 * Toy faces: a generated face-recognition dataset that ships as code. Each identity is a set
 * of face parameters drawn from the seed — geometry (face width and height, jaw, eye spacing,
 * size and height, brow shape, nose length and width, mouth placement and width, hairline) and
 * texture/colour (skin, hair, iris, lips, moles, cheek tint). Each image of an identity
 * renders those parameters under its own pose (rotation, translation, scale, yaw), lighting
 * (direction, strength, colour cast), expression (eye opening, mouth), background, noise and
 * occlusion (sunglasses, mask, random patches), so that raw pixels are dominated by nuisance
 * variation while identity stays learnable.
 *
 * Images are 112×112 RGB8 HWC, rendered in plain TypeScript (no decode). Deterministic: the
 * same seed, identity and image number give the same bytes on every machine.
 *
 * @module
 */
import { hashSeed, Rng } from "./rng.ts";

/** Side of a toy face image in pixels. */
export const TOY_SIZE = 112;
/** Bytes of one toy face image (112·112·3). */
export const TOY_IMAGE_BYTES = TOY_SIZE * TOY_SIZE * 3;
/** Identity numbers at and above this are the held-out (verification) identities. */
export const HELD_OUT_BASE = 1 << 30;

/** The identity-defining parameters of one toy face. */
export interface FaceIdentity {
  /** Face half-width and half-heights above/below the centre (pixels at scale 1). */
  halfWidth: number;
  /** Half-height of the upper face. */
  upper: number;
  /** Half-height of the lower face (chin). */
  lower: number;
  /** Jaw narrowing towards the chin, 0..0.5. */
  jaw: number;
  /** Skin colour RGB 0..255. */
  skin: [number, number, number];
  /** Hair colour RGB. */
  hair: [number, number, number];
  /** Hairline height as a fraction of `upper` (smaller: higher forehead). */
  hairline: number;
  /** Hairline curvature. */
  hairCurve: number;
  /** Hair volume beyond the face outline (pixels). */
  hairVolume: number;
  /** Eye centre offset from the midline, eye height (relative to the centre), radii. */
  eyeDx: number;
  /** Eye height relative to the face centre (negative: above). */
  eyeY: number;
  /** Eye horizontal radius. */
  eyeRx: number;
  /** Eye vertical radius. */
  eyeRy: number;
  /** Iris colour RGB. */
  iris: [number, number, number];
  /** Brow height above the eye, thickness, slope, half-length. */
  browUp: number;
  /** Brow thickness. */
  browThick: number;
  /** Brow slope (dy/dx, outward). */
  browSlope: number;
  /** Brow half-length. */
  browLen: number;
  /** Nose length (from eye line), half-width at the bottom. */
  noseLen: number;
  /** Nose half-width. */
  noseWidth: number;
  /** Mouth height relative to centre, half-width, lip thickness. */
  mouthY: number;
  /** Mouth half-width. */
  mouthWidth: number;
  /** Lip thickness. */
  lipThick: number;
  /** Lip colour RGB. */
  lips: [number, number, number];
  /** Moles: [u, v, radius] triples in face coordinates. */
  moles: number[];
  /** Cheek tint strength (added red). */
  blush: number;
  /** Glasses worn by this identity. */
  glasses: boolean;
}

/** The per-image nuisance parameters of one rendering. */
export interface FaceVariation {
  /** Rotation in radians. */
  angle: number;
  /** Scale factor. */
  scale: number;
  /** Translation in pixels. */
  tx: number;
  /** Vertical translation in pixels. */
  ty: number;
  /** Yaw: horizontal shift of the features as a fraction of the half-width. */
  yaw: number;
  /** Light direction (unit vector) and diffuse/ambient strengths. */
  light: [number, number, number];
  /** Diffuse strength. */
  diffuse: number;
  /** Ambient strength. */
  ambient: number;
  /** Per-channel colour cast. */
  cast: [number, number, number];
  /** Background colour at the top-left and its gradient direction colour. */
  bg0: [number, number, number];
  /** Background colour at the far corner. */
  bg1: [number, number, number];
  /** Background gradient angle. */
  bgAngle: number;
  /** Eye opening 0..1.2; mouth opening 0..1. */
  eyeOpen: number;
  /** Mouth opening 0..1. */
  mouthOpen: number;
  /** Noise standard deviation in grey levels. */
  noise: number;
  /** Occlusions: sunglasses, mask, and image-space patches [x0,y0,x1,y1,r,g,b]. */
  sunglasses: boolean;
  /** Surgical-style mask over the lower face. */
  mask: [number, number, number] | null;
  /** Image-space rectangles [x0, y0, x1, y1, r, g, b]. */
  patches: number[][];
  /** Seed of the noise stream. */
  noiseSeed: number;
}

function rgb(r: Rng, lo: number[], hi: number[]): [number, number, number] {
  return [r.uniform(lo[0], hi[0]), r.uniform(lo[1], hi[1]), r.uniform(lo[2], hi[2])];
}

/** The parameters of identity `id` under `seed` (held-out ids are ≥ {@link HELD_OUT_BASE}). */
export function faceIdentity(seed: number, id: number): FaceIdentity {
  const r = new Rng(hashSeed(seed, 0x1d, id));
  const tone = r.next();
  const skin: [number, number, number] = [
    95 + 150 * tone + r.uniform(-12, 12),
    60 + 130 * tone + r.uniform(-12, 12),
    40 + 120 * tone + r.uniform(-12, 12),
  ];
  const hairDark = r.next() < 0.7;
  const hair = hairDark
    ? rgb(r, [15, 10, 5], [90, 70, 50])
    : rgb(r, [120, 80, 30], [230, 200, 140]);
  const moles: number[] = [];
  const nm = r.int(4);
  for (let i = 0; i < nm; i++) {
    moles.push(r.uniform(-22, 22), r.uniform(-10, 30), r.uniform(1.2, 2.4));
  }
  return {
    halfWidth: r.uniform(27, 37),
    upper: r.uniform(34, 44),
    lower: r.uniform(34, 46),
    jaw: r.uniform(0.05, 0.45),
    skin,
    hair,
    hairline: r.uniform(0.35, 0.75),
    hairCurve: r.uniform(-0.012, 0.02),
    hairVolume: r.uniform(2, 10),
    eyeDx: r.uniform(11, 19),
    eyeY: r.uniform(-14, -4),
    eyeRx: r.uniform(4, 7),
    eyeRy: r.uniform(2.2, 4.2),
    iris: r.next() < 0.6
      ? rgb(r, [40, 20, 5], [110, 70, 40])
      : rgb(r, [40, 80, 90], [120, 170, 200]),
    browUp: r.uniform(5, 10),
    browThick: r.uniform(1.5, 4),
    browSlope: r.uniform(-0.35, 0.35),
    browLen: r.uniform(5, 9),
    noseLen: r.uniform(12, 22),
    noseWidth: r.uniform(3.5, 8),
    mouthY: r.uniform(13, 24),
    mouthWidth: r.uniform(7, 15),
    lipThick: r.uniform(1.5, 4),
    lips: rgb(r, [120, 40, 40], [210, 110, 110]),
    moles,
    blush: r.uniform(0, 45),
    glasses: r.next() < 0.15,
  };
}

/**
 * The nuisance parameters of image `k` of identity `id` under `seed`. `strength` scales pose,
 * colour cast, noise and the occlusion rates (1 = the default difficulty, 0 = only background
 * and lighting vary).
 */
export function faceVariation(seed: number, id: number, k: number, strength = 1): FaceVariation {
  const r = new Rng(hashSeed(seed, 0x5a, id, k));
  const s = strength;
  const lx = r.uniform(-1, 1), ly = r.uniform(-1, 0.6), lz = r.uniform(0.3, 1);
  const ln = Math.hypot(lx, ly, lz);
  const c = 0.15 * s;
  const cast: [number, number, number] = [
    r.uniform(1 - c, 1 + c),
    r.uniform(1 - c, 1 + c),
    r.uniform(1 - c, 1 + c),
  ];
  const patches: number[][] = [];
  if (r.next() < 0.3 * s) {
    const w = r.uniform(10, 32), h = r.uniform(10, 32);
    const x0 = r.uniform(-8, TOY_SIZE - w + 8), y0 = r.uniform(-8, TOY_SIZE - h + 8);
    patches.push([x0, y0, x0 + w, y0 + h, r.uniform(0, 255), r.uniform(0, 255), r.uniform(0, 255)]);
  }
  return {
    angle: Math.max(-0.4, Math.min(0.4, 0.15 * s * r.normal())),
    scale: 1 + r.uniform(-0.1, 0.1) * s,
    tx: r.uniform(-8, 8) * s,
    ty: r.uniform(-8, 8) * s,
    yaw: r.uniform(-0.25, 0.25) * s,
    light: [lx / ln, ly / ln, lz / ln],
    diffuse: r.uniform(0.25, 0.8),
    ambient: r.uniform(0.35, 0.8),
    cast,
    bg0: rgb(r, [0, 0, 0], [255, 255, 255]),
    bg1: rgb(r, [0, 0, 0], [255, 255, 255]),
    bgAngle: r.uniform(0, 2 * Math.PI),
    eyeOpen: r.next() < 0.08 * s ? r.uniform(0.05, 0.3) : r.uniform(0.65, 1.1),
    mouthOpen: r.next() < 0.25 * s ? r.uniform(0.2, 1) : 0,
    noise: 2 + r.uniform(0, 10) * s,
    sunglasses: r.next() < 0.1 * s,
    mask: r.next() < 0.08 * s ? rgb(r, [150, 150, 150], [255, 255, 255]) : null,
    patches,
    noiseSeed: r.u32(),
  };
}

const clamp255 = (x: number) => (x < 0 ? 0 : x > 255 ? 255 : x);

/**
 * Renders one face into `out` (112·112·3 bytes, RGB8 HWC) at byte offset `offset`.
 * Pure arithmetic per pixel; about a thousand images per second per core or more.
 */
export function renderFace(
  f: FaceIdentity,
  v: FaceVariation,
  out: Uint8Array,
  offset = 0,
): void {
  const S = TOY_SIZE;
  const cx = S / 2 + v.tx, cy = S / 2 + 2 + v.ty;
  const cos = Math.cos(v.angle) / v.scale, sin = Math.sin(v.angle) / v.scale;
  const a = f.halfWidth, bu = f.upper, bl = f.lower;
  const [Lx, Ly, Lz] = v.light;
  const amb = v.ambient, dif = v.diffuse;
  const [cr, cg, cb] = v.cast;
  const bgdx = Math.cos(v.bgAngle) / S, bgdy = Math.sin(v.bgAngle) / S;
  const yawShift = v.yaw * a;
  const eyeRy = f.eyeRy * v.eyeOpen;
  const mouthOpen = v.mouthOpen * 4;
  const hairTop = -bu - f.hairVolume;
  const hairA = a + f.hairVolume;
  let seed = v.noiseSeed | 1;
  const noiseAmp = v.noise * 0.0000000004656612873; // σ·(2/2^32)·~1
  for (let y = 0; y < S; y++) {
    const py = y + 0.5 - cy;
    for (let x = 0; x < S; x++) {
      const px = x + 0.5 - cx;
      // face coordinates
      const u = cos * px + sin * py;
      const w = -sin * px + cos * py;
      let r = 0, g = 0, b = 0;
      let shade = 1;
      let isFace = false;
      // face outline: ellipse with separate upper/lower heights and a narrowing jaw
      const vb = w < 0 ? w / bu : w / bl;
      const aw = w > 0 ? a * (1 - f.jaw * vb * vb) : a;
      const un = u / aw;
      const rr = un * un + vb * vb;
      if (rr < 1) {
        isFace = true;
        const nz = Math.sqrt(1 - rr);
        const ndot = un * Lx + vb * Ly + nz * Lz;
        shade = amb + dif * (ndot > 0 ? ndot : 0);
        r = f.skin[0], g = f.skin[1], b = f.skin[2];
        // hair over the forehead
        const hl = -bu * f.hairline + f.hairCurve * u * u;
        if (w < hl) {
          r = f.hair[0], g = f.hair[1], b = f.hair[2];
        } else {
          const fu = u - yawShift * (1 - vb * vb); // features move with yaw
          // cheek tint
          const cu = Math.abs(fu) - f.eyeDx, cv = w - f.eyeY - 14;
          const cd = (cu * cu + cv * cv) / 64;
          if (cd < 1) r += f.blush * (1 - cd);
          // moles
          for (let m = 0; m < f.moles.length; m += 3) {
            const du = fu - f.moles[m], dv = w - f.moles[m + 1], mr = f.moles[m + 2];
            if (du * du + dv * dv < mr * mr) r *= 0.45, g *= 0.4, b *= 0.4;
          }
          // eyes
          const eu = Math.abs(fu) - f.eyeDx, ev = w - f.eyeY;
          const ee = (eu * eu) / (f.eyeRx * f.eyeRx) + (ev * ev) / (eyeRy * eyeRy + 0.01);
          if (ee < 1) {
            const ir = eu * eu + ev * ev;
            const irisR = Math.min(f.eyeRx, f.eyeRy) * 0.8;
            if (ir < irisR * irisR * 0.3) r = 15, g = 12, b = 12;
            else if (ir < irisR * irisR) r = f.iris[0], g = f.iris[1], b = f.iris[2];
            else r = 235, g = 232, b = 225;
          } else {
            // brows
            const bd = w - (f.eyeY - f.browUp + f.browSlope * eu);
            if (Math.abs(eu) < f.browLen && bd * bd < f.browThick * f.browThick * 0.25) {
              r = f.hair[0] * 0.8, g = f.hair[1] * 0.8, b = f.hair[2] * 0.8;
            }
          }
          // nose: a darker wedge, nostrils at its base
          const nv = w - f.eyeY;
          if (nv > 0 && nv < f.noseLen) {
            const half = f.noseWidth * (0.3 + 0.7 * nv / f.noseLen);
            const side = fu + (v.light[0] > 0 ? half * 0.3 : -half * 0.3);
            if (Math.abs(side) < half) shade *= 0.86;
          }
          const nsv = w - f.eyeY - f.noseLen;
          if (nsv > -2 && nsv < 0.5) {
            const nu = Math.abs(fu) - f.noseWidth * 0.6;
            if (nu * nu < 2.5) r *= 0.5, g *= 0.45, b *= 0.45;
          }
          // mouth
          const mu = fu / f.mouthWidth;
          if (mu * mu < 1) {
            const mv = w - f.mouthY - 2 * mu * mu;
            const lt = f.lipThick * (1 - 0.5 * mu * mu);
            if (mv > -lt - mouthOpen / 2 && mv < lt + mouthOpen / 2) {
              if (Math.abs(mv) < mouthOpen / 2) r = 40, g = 15, b = 20;
              else r = f.lips[0], g = f.lips[1], b = f.lips[2];
            }
          }
          // glasses: rims around the eyes
          if (f.glasses) {
            const gu = eu / (f.eyeRx + 4), gv = ev / 7;
            const gd = gu * gu + gv * gv;
            if (gd > 0.8 && gd < 1.15) r = 30, g = 30, b = 35;
          }
          if (v.sunglasses) {
            const gu = eu / (f.eyeRx + 5), gv = ev / 7.5;
            if (gu * gu + gv * gv < 1 || (Math.abs(ev) < 1.5 && Math.abs(fu) < f.eyeDx)) {
              r = 18, g = 18, b = 22;
              shade = 1;
            }
          }
          if (v.mask !== null && w > f.eyeY + f.noseLen * 0.6) {
            r = v.mask[0], g = v.mask[1], b = v.mask[2];
          }
        }
      } else {
        // hair outside the face outline (behind the head)
        const hv = w < 0 ? w / (-hairTop) : w / (bu * 0.35);
        const hu = u / hairA;
        if (hu * hu + hv * hv < 1 && w < bu * 0.3) {
          isFace = true;
          r = f.hair[0], g = f.hair[1], b = f.hair[2];
          shade = amb + dif * 0.5;
        }
      }
      if (!isFace) {
        const t = (x * bgdx + y * bgdy) + 0.5;
        r = v.bg0[0] + (v.bg1[0] - v.bg0[0]) * t;
        g = v.bg0[1] + (v.bg1[1] - v.bg0[1]) * t;
        b = v.bg0[2] + (v.bg1[2] - v.bg0[2]) * t;
        shade = 1;
      }
      // noise: sum of two uniforms (triangular, σ ≈ noise)
      seed ^= seed << 13, seed ^= seed >>> 17, seed ^= seed << 5;
      const n1 = seed;
      seed ^= seed << 13, seed ^= seed >>> 17, seed ^= seed << 5;
      const n = (n1 + seed) * noiseAmp * 1.22;
      const o = offset + 3 * (y * S + x);
      out[o] = clamp255(r * shade * cr + n);
      out[o + 1] = clamp255(g * shade * cg + n);
      out[o + 2] = clamp255(b * shade * cb + n);
    }
  }
  for (const p of v.patches) {
    const x0 = Math.max(0, Math.round(p[0])), x1 = Math.min(S, Math.round(p[2]));
    const y0 = Math.max(0, Math.round(p[1])), y1 = Math.min(S, Math.round(p[3]));
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const o = offset + 3 * (y * S + x);
        out[o] = p[4], out[o + 1] = p[5], out[o + 2] = p[6];
      }
    }
  }
}

/** Options of the toy training set. */
export interface ToyFacesOptions {
  /** Seed of everything (default 0). */
  seed?: number;
  /** Number of training identities (classes). */
  numIdentities: number;
  /** Images per identity. */
  imagesPerIdentity: number;
  /** Nuisance strength (default 1; see {@link faceVariation}). */
  variation?: number;
}

/**
 * The toy training set: image `i` is image `i % imagesPerIdentity` of identity
 * `⌊i / imagesPerIdentity⌋`, whose label is that identity.
 */
export class ToyFaces {
  /** Seed of the dataset. */
  readonly seed: number;
  /** Number of identities (= num_classes). */
  readonly numIdentities: number;
  /** Images per identity. */
  readonly imagesPerIdentity: number;
  /** Nuisance strength. */
  readonly variation: number;
  #cache = new Map<number, FaceIdentity>();

  /** Creates the dataset description (renders nothing yet). */
  constructor(opts: ToyFacesOptions) {
    this.seed = opts.seed ?? 0;
    this.numIdentities = opts.numIdentities;
    this.imagesPerIdentity = opts.imagesPerIdentity;
    this.variation = opts.variation ?? 1;
    if (!(this.numIdentities > 0 && this.imagesPerIdentity > 0)) {
      throw new Error("toy faces need numIdentities > 0 and imagesPerIdentity > 0");
    }
  }

  /** Number of images. */
  get length(): number {
    return this.numIdentities * this.imagesPerIdentity;
  }

  /** The label (identity) of image `i`. */
  labelOf(i: number): number {
    return Math.floor(i / this.imagesPerIdentity);
  }

  /** The cached parameters of identity `id`. */
  identity(id: number): FaceIdentity {
    let f = this.#cache.get(id);
    if (!f) {
      if (this.#cache.size > 4096) this.#cache.clear();
      f = faceIdentity(this.seed, id);
      this.#cache.set(id, f);
    }
    return f;
  }

  /** Renders image `i` into `out` at `offset` and returns its label. */
  renderInto(i: number, out: Uint8Array, offset = 0): number {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`toy image ${i} out of range`);
    const id = this.labelOf(i);
    renderFace(
      this.identity(id),
      faceVariation(this.seed, id, i % this.imagesPerIdentity),
      out,
      offset,
    );
    return id;
  }
}

/** A held-out verification set: 2·P rendered images (pairs consecutive) and P flags. */
export interface ToyPairs {
  /** The images, RGB8 HWC 112×112, `images[2p]` and `images[2p+1]` form pair p. */
  images: Uint8Array[];
  /** True when pair p shows one identity. */
  issame: boolean[];
}

/**
 * Makes `numPairs` verification pairs over `numIdentities` held-out identities (none of them
 * a training identity), alternating same/different, deterministically from `seed`.
 */
export function toyPairs(
  { seed = 0, numIdentities = 200, numPairs = 600, variation = 1 }: {
    seed?: number;
    numIdentities?: number;
    numPairs?: number;
    variation?: number;
  } = {},
): ToyPairs {
  const r = new Rng(hashSeed(seed, 0x9a1));
  const images: Uint8Array[] = [];
  const issame: boolean[] = [];
  const ids = new Map<number, FaceIdentity>();
  const ident = (j: number) => {
    let f = ids.get(j);
    if (!f) ids.set(j, f = faceIdentity(seed, HELD_OUT_BASE + j));
    return f;
  };
  const draw = (j: number, k: number) => {
    const img = new Uint8Array(TOY_IMAGE_BYTES);
    renderFace(ident(j), faceVariation(seed, HELD_OUT_BASE + j, k, variation), img);
    return img;
  };
  for (let p = 0; p < numPairs; p++) {
    const same = p % 2 === 0;
    const a = r.int(numIdentities);
    let b = a;
    if (!same) { while (b === a) b = r.int(numIdentities); }
    images.push(draw(a, 2 * p), draw(b, 2 * p + 1));
    issame.push(same);
  }
  return { images, issame };
}
