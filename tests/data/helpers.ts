/**
 * Shared helpers of the data tests: Debian's Python (numpy, Pillow), temporary folders of
 * toy-face JPEGs.
 *
 * @module
 */
import { openTurboJpeg } from "../../src/data/decode_turbojpeg.ts";
import { TOY_IMAGE_BYTES, ToyFaces } from "../../src/data/toy_faces.ts";

/** Debian's Python, which has numpy and Pillow (plain `python3` on PATH may not). */
export const PYTHON = "/usr/bin/python3";

/** Runs Python with `args`, optional stdin; returns stdout, throws with stderr on failure. */
export async function python(args: string[], stdin?: Uint8Array): Promise<string> {
  const cmd = new Deno.Command(PYTHON, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`python ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/**
 * Writes `ids` identities × `per` toy faces as JPEGs (quality 90) into `root/idNNN/k.jpg`;
 * returns the pixel arrays in label-then-file order.
 */
export function writeToyFolder(root: string, ids: number, per: number, seed = 3): Uint8Array[] {
  const tj = openTurboJpeg();
  if (!tj) throw new Error("tests need libturbojpeg (Debian libturbojpeg0)");
  const faces = new ToyFaces({ seed, numIdentities: ids, imagesPerIdentity: per });
  const out: Uint8Array[] = [];
  try {
    for (let i = 0; i < faces.length; i++) {
      const px = new Uint8Array(TOY_IMAGE_BYTES);
      const l = faces.renderInto(i, px);
      const dir = `${root}/id${String(l).padStart(3, "0")}`;
      Deno.mkdirSync(dir, { recursive: true });
      Deno.writeFileSync(
        `${dir}/${String(i % per).padStart(2, "0")}.jpg`,
        tj.encode(px, 112, 112, 90),
      );
      out.push(px);
    }
  } finally {
    tj.close();
  }
  return out;
}

/**
 * Asserts two byte arrays are equal, reporting the first difference (node:assert's diff of
 * large typed arrays is too slow to be usable).
 */
export function assertBytesEqual(got: Uint8Array, want: Uint8Array, what = "bytes"): void {
  if (got.length !== want.length) {
    throw new Error(`${what}: length ${got.length} != ${want.length}`);
  }
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) {
      throw new Error(`${what}: first difference at ${i}: ${got[i]} != ${want[i]}`);
    }
  }
}
