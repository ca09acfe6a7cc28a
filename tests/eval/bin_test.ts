import assert from "node:assert/strict";
import {
  parseVerificationBin,
  readVerificationBin,
  serializeVerificationBin,
  writeVerificationBin,
} from "../../src/eval/bin.ts";
import { pickle } from "../../src/io/pickle.ts";

const PYTHON = "/usr/bin/python3";

async function python(script: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(PYTHON, { args: ["-c", script, ...args] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

// Images with every byte value, like JPEG data that is not valid UTF-8.
const IMAGES = [0, 1, 2, 3].map((k) =>
  Uint8Array.from({ length: 300 + k }, (_, i) => (i * 7 + k) & 255)
);
const ISSAME = [true, false];

Deno.test("a .bin written by Python 3 (protocols 2 and 4, bytes or latin1 str) is read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await python(
      `
import pickle, sys
imgs = [bytes((i * 7 + k) & 255 for i in range(300 + k)) for k in range(4)]
same = [True, False]
d = sys.argv[1]
pickle.dump((imgs, same), open(d + "/p4.bin", "wb"), protocol=4)
pickle.dump((imgs, same), open(d + "/p2.bin", "wb"), protocol=2)
pickle.dump([[s.decode("latin1") for s in imgs], same], open(d + "/str.bin", "wb"), protocol=2)
`,
      dir,
    );
    for (const f of ["p4", "p2", "str"]) {
      const bin = await readVerificationBin(`${dir}/${f}.bin`);
      assert.deepEqual(bin.images, IMAGES, f);
      assert.deepEqual(bin.issame, ISSAME, f);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a .bin pickled by Python 2 (str images) is read as bytes", () => {
  // pickle.dumps((imgs, same), 2) under Python 2: str → BINSTRING/SHORT_BINSTRING.
  const parts: number[] = [0x80, 2, 0x5d, 0x71, 0, 0x28];
  for (const img of IMAGES) {
    parts.push(0x54, img.length & 255, img.length >> 8, 0, 0, ...img);
  }
  parts.push(0x65, 0x5d, 0x71, 1, 0x28, 0x88, 0x89, 0x65, 0x86, 0x71, 2, 0x2e);
  const bin = parseVerificationBin(Uint8Array.from(parts), "py2.bin");
  assert.deepEqual(bin.images, IMAGES);
  assert.deepEqual(bin.issame, ISSAME);
});

Deno.test("a .bin written here loads in Python's pickle and reads back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const protocol of [2, 4] as const) {
      await writeVerificationBin(`${dir}/w${protocol}.bin`, { images: IMAGES, issame: ISSAME }, {
        protocol,
      });
      assert.deepEqual(await readVerificationBin(`${dir}/w${protocol}.bin`), {
        images: IMAGES,
        issame: ISSAME,
      });
    }
    const out = await python(
      `
import pickle, sys
for p in (2, 4):
    bins, same = pickle.load(open(f"{sys.argv[1]}/w{p}.bin", "rb"))
    assert same == [True, False], same
    assert bins == [bytes((i * 7 + k) & 255 for i in range(300 + k)) for k in range(4)]
print("ok")
`,
      dir,
    );
    assert.equal(out.trim(), "ok");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("files that are not the expected pickle give one clear error naming the file", () => {
  assert.throws(
    () => parseVerificationBin(new TextEncoder().encode("\x89PNG not a pickle"), "lfw.bin"),
    /lfw\.bin: not a verification \.bin \(a pickle of \(images, issame_list\)\): lfw\.bin: pickle error at byte 0/,
  );
  assert.throws(
    () => parseVerificationBin(pickle(new Map([["a", 1]])), "d.bin"),
    /d\.bin: not a verification \.bin: expected a pair/,
  );
  assert.throws(
    () => parseVerificationBin(pickle([[new Uint8Array(1)], [true]]), "n.bin"),
    /n\.bin: inconsistent \.bin: 1 images for 1 pairs \(needs 2\)/,
  );
  assert.throws(
    () => parseVerificationBin(pickle([[1, 2], [true]]), "i.bin"),
    /i\.bin: image 0 of the \.bin is not a byte string/,
  );
  assert.throws(
    () => parseVerificationBin(pickle([[], ["yes"]]), "f.bin"),
    /f\.bin: not a verification \.bin: the second element is not a list of booleans/,
  );
  const good = serializeVerificationBin({ images: IMAGES, issame: ISSAME });
  assert.throws(
    () => parseVerificationBin(good.subarray(0, 400), "cut.bin"),
    /cut\.bin: .*truncated/,
  );
});
