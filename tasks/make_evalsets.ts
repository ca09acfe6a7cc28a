/**
 * `deno task make-evalsets ijbc|ijbb|mfr --out DIR [options]`: writes a generated IJB-style or
 * MFR-style test set of held-out toy faces (src/eval/testsets.ts). `--help` shows the layouts.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeIjbSet, writeMfrSet } from "../src/eval/testsets.ts";

const HELP = `usage: deno task make-evalsets ijbc|ijbb|mfr --out DIR [options]

Writes a generated test set of held-out toy faces (identities no toy training set contains).

common options:
  --out DIR                  output root (required)
  --seed S                   seed of everything (default 0)
  --identities N             subjects (default 50 for IJB, 100 for MFR)
  --variation V              toy-face nuisance strength (default 1)

ijbc | ijbb  (layout read by the IJB protocol, as the reference's eval_ijbc.py):
  DIR/IJBC/meta/ijbc_face_tid_mid.txt         "image_name template_id media_id", one per image
  DIR/IJBC/meta/ijbc_template_pair_label.txt  "template_id1 template_id2 label" (1 same, 0 not)
  DIR/IJBC/meta/ijbc_name_5pts_score.txt      "image_name x1 y1 ... x5 y5 detector_score"
                                              (same image order as face_tid_mid)
  DIR/IJBC/loose_crop/1.jpg, 2.jpg, ...       loose crops, 150-250 px a side
  (ijbb: DIR/IJBB/meta/ijbb_...). Landmarks: left eye, right eye, nose, mouth left, right.
  --templates-per-identity N  (default 3)     --medias-per-template N  (default 2)
  --images-per-media N        (default 2)     --negatives-per-positive R (default 4)

mfr  (layout read by the MFR scoring):
  DIR/mfr_list.txt                 "relative/path identity masked" per image (space-separated,
                                   identity an integer, masked 0 or 1)
  DIR/images/<identity>/<k>.jpg    aligned 112x112 JPEG faces; masked ones wear a synthetic
                                   mask over nose, mouth and chin (below the eye line)
  --unmasked-per-identity N   (default 2)     --masked-per-identity N  (default 1)
`;

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    help: { type: "boolean", short: "h", default: false },
    out: { type: "string" },
    seed: { type: "string" },
    identities: { type: "string" },
    variation: { type: "string" },
    "templates-per-identity": { type: "string" },
    "medias-per-template": { type: "string" },
    "images-per-media": { type: "string" },
    "negatives-per-positive": { type: "string" },
    "unmasked-per-identity": { type: "string" },
    "masked-per-identity": { type: "string" },
  },
  allowPositionals: true,
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}
const kind = positionals[0];
if (positionals.length !== 1 || !["ijbc", "ijbb", "mfr"].includes(kind) || !values.out) {
  console.error(HELP);
  Deno.exit(2);
}

/** The number given to --name, or undefined when absent; exits on a non-number. */
function num(name: keyof typeof values): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isFinite(n)) {
    console.error(`make-evalsets: --${name} ${v} is not a number`);
    Deno.exit(2);
  }
  return n;
}

const t0 = performance.now();
try {
  if (kind === "mfr") {
    const r = await writeMfrSet(values.out, {
      seed: num("seed"),
      identities: num("identities"),
      unmaskedPerIdentity: num("unmasked-per-identity"),
      maskedPerIdentity: num("masked-per-identity"),
      variation: num("variation"),
    });
    console.log(`wrote ${r.images} images and ${r.list}`);
  } else {
    const r = await writeIjbSet(values.out, {
      target: kind === "ijbc" ? "IJBC" : "IJBB",
      seed: num("seed"),
      identities: num("identities"),
      templatesPerIdentity: num("templates-per-identity"),
      mediasPerTemplate: num("medias-per-template"),
      imagesPerMedia: num("images-per-media"),
      negativePairsPerPositive: num("negatives-per-positive"),
      variation: num("variation"),
    });
    console.log(
      `wrote ${r.dir}: ${r.images} images, ${r.templates} templates, ${r.pairs} template pairs`,
    );
  }
  console.log(`in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(`make-evalsets failed: ${(e as Error).message}`);
  Deno.exit(1);
}
