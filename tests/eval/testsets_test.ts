/**
 * Generated IJB / MFR test sets: the files parse as documented, ids and pairs are consistent,
 * aligning each loose crop with its written landmarks gives back the rendered face, and masks
 * change only the lower face.
 */
import assert from "node:assert/strict";
import { alignFace, estimateSimilarity } from "../../src/eval/align.ts";
import {
  MFR_ID_BASE,
  mfrImage,
  planIjbSet,
  writeIjbSet,
  writeMfrSet,
} from "../../src/eval/testsets.ts";
import {
  faceIdentity,
  type FaceVariation,
  faceVariation,
  renderFace,
  TOY_IMAGE_BYTES,
} from "../../src/data/toy_faces.ts";
import { openTurboJpeg } from "../../src/data/decode_turbojpeg.ts";
import { rand, SEED } from "../util.ts";

function lines(text: string): string[][] {
  assert.ok(text.endsWith("\n"), "file does not end with a newline");
  return text.slice(0, -1).split("\n").map((l) => l.split(" "));
}

const isInt = (s: string) => /^-?\d+$/.test(s);

/** 3×3 box filter of a 112×112 RGB image (edges clamped): removes the toy faces' pixel noise. */
function blur(a: Uint8Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let y = 0; y < 112; y++) {
    for (let x = 0; x < 112; x++) {
      for (let k = 0; k < 3; k++) {
        let s = 0;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = Math.min(111, Math.max(0, y + dy)), xx = Math.min(111, Math.max(0, x + dx));
            s += a[3 * (yy * 112 + xx) + k];
          }
        }
        out[3 * (y * 112 + x) + k] = s / 9;
      }
    }
  }
  return out;
}

/**
 * Mean |a − b| of the 3×3-blurred images over the pixels where `keep` is set and at least
 * `margin` px from the edge (the blur keeps the comparison about the picture, not about
 * resampled or JPEG'd noise).
 */
function meanAbsInner(a: Uint8Array, b: Uint8Array, margin: number, keep?: Uint8Array): number {
  const ba = blur(a), bb = blur(b);
  let s = 0, n = 0;
  for (let y = margin; y < 112 - margin; y++) {
    for (let x = margin; x < 112 - margin; x++) {
      if (keep && !keep[y * 112 + x]) continue;
      for (let k = 0; k < 3; k++) {
        s += Math.abs(ba[3 * (y * 112 + x) + k] - bb[3 * (y * 112 + x) + k]), n++;
      }
    }
  }
  return s / n;
}

/** The aligned pixels whose source location lies ≥ 3 px inside the w×h crop. */
function insideCrop(lm: number[], w: number, h: number): Uint8Array {
  const m = estimateSimilarity(lm);
  const d = m[0] * m[4] - m[1] * m[3];
  const i0 = m[4] / d, i1 = -m[1] / d, i3 = -m[3] / d, i4 = m[0] / d;
  const keep = new Uint8Array(112 * 112);
  for (let y = 0; y < 112; y++) {
    for (let x = 0; x < 112; x++) {
      const sx = i0 * (x - m[2]) + i1 * (y - m[5]), sy = i3 * (x - m[2]) + i4 * (y - m[5]);
      keep[y * 112 + x] = sx >= 3 && sy >= 3 && sx <= w - 4 && sy <= h - 4 ? 1 : 0;
    }
  }
  return keep;
}

Deno.test("IJB set: layout, ids, pairs, and landmarks that align the crops", async () => {
  const root = await Deno.makeTempDir({ prefix: "ijb_set_" });
  const tj = openTurboJpeg();
  assert.ok(tj, "libturbojpeg is needed");
  try {
    const opts = { seed: Math.floor(rand() * 1e6), identities: 6, imagesPerMedia: 2 };
    const r = await writeIjbSet(root, opts);
    assert.equal(r.dir, `${root}/IJBC`);
    const meta = `${root}/IJBC/meta`;
    const tidMid = lines(await Deno.readTextFile(`${meta}/ijbc_face_tid_mid.txt`));
    const pts = lines(await Deno.readTextFile(`${meta}/ijbc_name_5pts_score.txt`));
    const pairs = lines(await Deno.readTextFile(`${meta}/ijbc_template_pair_label.txt`));
    assert.equal(tidMid.length, 6 * 3 * 2 * 2);
    assert.equal(r.images, tidMid.length);
    assert.equal(r.pairs, pairs.length);
    assert.equal(pts.length, tidMid.length);
    const templateOf = new Map<string, number>(), mediaTemplate = new Map<number, number>();
    tidMid.forEach((f, i) => {
      assert.equal(f.length, 3, `face_tid_mid line ${i + 1}`);
      assert.ok(/^\d+\.jpg$/.test(f[0]) && isInt(f[1]) && isInt(f[2]), `line ${i + 1}: ${f}`);
      assert.equal(pts[i][0], f[0], `5pts line ${i + 1} is not image ${f[0]}`);
      templateOf.set(f[0], Number(f[1]));
      // a media belongs to one template
      const t = mediaTemplate.get(Number(f[2]));
      assert.ok(t === undefined || t === Number(f[1]), `media ${f[2]} in two templates`);
      mediaTemplate.set(Number(f[2]), Number(f[1]));
    });
    const templates = [...new Set(templateOf.values())].sort((a, b) => a - b);
    assert.equal(templates.length, r.templates);
    assert.equal(templates.length, 18);
    assert.ok(
      templates.some((t, i) => i > 0 && t - templates[i - 1] > 1),
      "template ids contiguous",
    );
    const medias = [...mediaTemplate.keys()].sort((a, b) => a - b);
    assert.equal(medias.length, 36);
    assert.ok(medias.some((t, i) => i > 0 && t - medias[i - 1] > 1), "media ids contiguous");
    pts.forEach((f, i) => {
      assert.equal(f.length, 12, `5pts line ${i + 1}`);
      assert.ok(f.slice(1).every((v) => Number.isFinite(Number(v))), `5pts line ${i + 1}`);
      const score = Number(f[11]);
      assert.ok(score > 0 && score <= 1, `score ${score}`);
    });

    // identities from the plan (what was rendered), to check the labels
    const plan = planIjbSet(opts);
    const subjectOf = new Map<number, number>();
    for (const img of plan.images) {
      assert.equal(templateOf.get(img.name), img.templateId);
      const s = subjectOf.get(img.templateId);
      assert.ok(s === undefined || s === img.subject, `template ${img.templateId} mixes subjects`);
      subjectOf.set(img.templateId, img.subject);
    }
    const labels = new Set<string>();
    const seen = new Set<string>();
    let genuine = 0;
    for (const [i, f] of pairs.entries()) {
      assert.equal(f.length, 3, `pair line ${i + 1}`);
      const [a, b] = [Number(f[0]), Number(f[1])];
      assert.ok(subjectOf.has(a) && subjectOf.has(b), `pair line ${i + 1}: unknown template`);
      assert.ok(f[2] === "0" || f[2] === "1", `pair line ${i + 1}: label ${f[2]}`);
      assert.equal(f[2] === "1", subjectOf.get(a) === subjectOf.get(b), `pair line ${i + 1}`);
      const key = `${Math.min(a, b)} ${Math.max(a, b)}`;
      assert.ok(!seen.has(key) && a !== b, `pair ${key} repeated`);
      seen.add(key);
      labels.add(f[2]);
      if (f[2] === "1") genuine++;
    }
    assert.deepEqual([...labels].sort(), ["0", "1"]);
    assert.equal(genuine, 6 * 3); // C(3, 2) per subject
    assert.equal(pairs.length - genuine, 4 * genuine);

    // aligning each crop with its landmarks gives back the clean rendered face
    const face = new Uint8Array(TOY_IMAGE_BYTES), other = new Uint8Array(TOY_IMAGE_BYTES);
    let worst = 0, sum = 0, sumMoved = 0, worstOther = Infinity;
    for (const [i, img] of plan.images.entries()) {
      const jpg = await Deno.readFile(`${root}/IJBC/loose_crop/${img.name}`);
      const { width, height } = tj!.size(jpg);
      assert.ok(width >= 150 && width <= 250 && height >= 150 && height <= 250);
      const rgb = new Uint8Array(width * height * 3);
      tj!.decodeInto(jpg, rgb);
      const lm = pts[i].slice(1, 11).map(Number);
      const aligned = alignFace(rgb, width, height, lm);
      const keep = insideCrop(lm, width, height);
      renderFace(faceIdentity(opts.seed, img.toyId), img.variation, face);
      const d = meanAbsInner(aligned, face, 4, keep);
      worst = Math.max(worst, d), sum += d;
      // landmarks moved by 3 px fit clearly worse: the written ones are precise
      const moved = alignFace(rgb, width, height, lm.map((v, q) => v + (q % 2 ? -3 : 3)));
      sumMoved += meanAbsInner(moved, face, 4, insideCrop(lm, width, height));
      // another subject's face is far worse: the agreement is not an accident
      let j = (i + 1) % plan.images.length;
      while (plan.images[j].subject === img.subject) j = (j + 1) % plan.images.length;
      const o = plan.images[j];
      renderFace(faceIdentity(opts.seed, o.toyId), o.variation, other);
      worstOther = Math.min(worstOther, meanAbsInner(aligned, other, 4, keep));
    }
    const n = plan.images.length;
    console.log(
      `aligned crop vs rendered face (3x3-blurred, inside the crop): mean |diff| ` +
        `${(sum / n).toFixed(2)}, worst image ${worst.toFixed(2)}; landmarks moved 3 px: ` +
        `${(sumMoved / n).toFixed(2)}; another subject: at least ${worstOther.toFixed(1)}`,
    );
    // the landmarks carry σ = 0.5 px detector noise, which costs a few grey levels
    assert.ok(sum / n < 4, `aligned crops differ from their faces by ${sum / n} (seed ${SEED})`);
    assert.ok(worst < 12, `an aligned crop differs from its face by ${worst} (seed ${SEED})`);
    assert.ok(sumMoved > 1.5 * sum, `3 px off fits as well (${sumMoved / n}) (seed ${SEED})`);
    assert.ok(worstOther > 2 * worst, `other faces as close as ${worstOther} (seed ${SEED})`);

    // IJBB naming, and bad options
    const b = await writeIjbSet(root, {
      target: "IJBB",
      identities: 2,
      templatesPerIdentity: 2,
      mediasPerTemplate: 1,
      imagesPerMedia: 1,
    });
    assert.equal(b.dir, `${root}/IJBB`);
    for (const n of ["face_tid_mid", "name_5pts_score", "template_pair_label"]) {
      await Deno.stat(`${root}/IJBB/meta/ijbb_${n}.txt`);
    }
    assert.equal(b.images, 4);
    await assert.rejects(() => writeIjbSet(root, { identities: 1 }), /identities=1/);
    await assert.rejects(() => writeIjbSet(root, { imagesPerMedia: 1.5 }), /imagesPerMedia=1.5/);
  } finally {
    tj?.close();
    await Deno.remove(root, { recursive: true });
  }
});

/** Face frame of a toy rendering, written out from renderFace's definition. */
function downFace(v: FaceVariation, x: number, y: number): number {
  const px = x + 0.5 - (56 + v.tx), py = y + 0.5 - (58 + v.ty);
  return (-Math.sin(v.angle) * px + Math.cos(v.angle) * py) / v.scale;
}

Deno.test("MFR set: list format, images, and masks below the eye line only", async () => {
  const root = await Deno.makeTempDir({ prefix: "mfr_set_" });
  const tj = openTurboJpeg();
  assert.ok(tj, "libturbojpeg is needed");
  try {
    const seed = Math.floor(rand() * 1e6);
    const r = await writeMfrSet(root, { seed, identities: 6 });
    assert.equal(r.list, `${root}/mfr_list.txt`);
    const list = lines(await Deno.readTextFile(r.list));
    assert.equal(list.length, 18);
    assert.equal(r.images, 18);
    const perId = new Map<string, number[]>();
    const rgb = new Uint8Array(TOY_IMAGE_BYTES);
    for (const [i, f] of list.entries()) {
      assert.equal(f.length, 3, `line ${i + 1}`);
      const [path, id, masked] = f;
      assert.ok(isInt(id), `line ${i + 1}: identity ${id}`);
      assert.ok(masked === "0" || masked === "1", `line ${i + 1}: masked ${masked}`);
      const m = /^images\/(\d+)\/(\d+)\.jpg$/.exec(path);
      assert.ok(m && m[1] === id, `line ${i + 1}: path ${path}`);
      perId.set(id, [...(perId.get(id) ?? []), Number(masked)]);
      const jpg = await Deno.readFile(`${root}/${path}`);
      assert.deepEqual(tj!.size(jpg), { width: 112, height: 112 });
      tj!.decodeInto(jpg, rgb);
      const want = mfrImage(seed, Number(id), Number(m[2]), masked === "1");
      const d = meanAbsInner(rgb, want, 0);
      assert.ok(d < 4, `${path}: JPEG differs from its image by ${d}`);
    }
    assert.equal(perId.size, 6);
    for (const [id, flags] of perId) assert.deepEqual(flags.sort(), [0, 0, 1], `identity ${id}`);

    // the masked rendering differs from the plain one only below the eye line, and covers
    // nose and mouth
    for (let j = 0; j < 6; j++) {
      const k = Math.floor(rand() * 5);
      const plain = mfrImage(seed, j, k, false), masked = mfrImage(seed, j, k, true);
      const f = faceIdentity(seed, MFR_ID_BASE + j);
      const v = faceVariation(seed, MFR_ID_BASE + j, k);
      let changed = 0, nose = 0, mouth = 0;
      const noseW = f.eyeY + f.noseLen, mouthW = f.mouthY;
      for (let y = 0; y < 112; y++) {
        for (let x = 0; x < 112; x++) {
          const o = 3 * (y * 112 + x);
          if (
            plain[o] === masked[o] && plain[o + 1] === masked[o + 1] &&
            plain[o + 2] === masked[o + 2]
          ) {
            continue;
          }
          changed++;
          const w = downFace(v, x, y);
          // the eyes (and glasses rims) end 7.5 px below the eye centre line
          assert.ok(w > f.eyeY + 7.5, `identity ${j}: pixel (${x}, ${y}) at w=${w} changed`);
          if (Math.abs(w - noseW) < 1.5) nose++;
          if (Math.abs(w - mouthW) < 1.5) mouth++;
        }
      }
      assert.ok(changed > 0.08 * 112 * 112, `identity ${j}: only ${changed} pixels masked`);
      assert.ok(nose > 20 && mouth > 20, `identity ${j}: nose ${nose} / mouth ${mouth} rows`);
    }
  } finally {
    tj?.close();
    await Deno.remove(root, { recursive: true });
  }
});
