import assert from "node:assert/strict";
import { createDecoder, imageFormat, probeImage } from "../../src/data/decode.ts";
import { decodePng, encodePng } from "../../src/data/png.ts";
import { openTurboJpeg } from "../../src/data/decode_turbojpeg.ts";
import { TOY_IMAGE_BYTES, ToyFaces } from "../../src/data/toy_faces.ts";
import { assertBytesEqual, python } from "./helpers.ts";

/** Asks PIL to decode `files` and print their RGB bytes as hex, one line each. */
async function pilDecode(files: string[]): Promise<Uint8Array[]> {
  const code = [
    "import sys",
    "from PIL import Image",
    "for p in sys.argv[1:]:",
    "    print(Image.open(p).convert('RGB').tobytes().hex())",
  ].join("\n");
  const out = await python(["-c", code, ...files]);
  return out.trim().split("\n").map((h) =>
    Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16))
  );
}

function toyImage(i: number): Uint8Array {
  const px = new Uint8Array(TOY_IMAGE_BYTES);
  new ToyFaces({ seed: 11, numIdentities: 5, imagesPerIdentity: 4 }).renderInto(i, px);
  return px;
}

Deno.test("libjpeg-turbo decode matches PIL's decode of the same JPEG exactly", async () => {
  const dir = await Deno.makeTempDir();
  const tj = openTurboJpeg()!;
  const files: string[] = [];
  for (let i = 0; i < 3; i++) {
    files.push(`${dir}/${i}.jpg`);
    Deno.writeFileSync(files[i], tj.encode(toyImage(i * 5), 112, 112, 70 + 10 * i));
  }
  tj.close();
  const pil = await pilDecode(files);
  const dec = await createDecoder("turbojpeg");
  assert.equal(dec.jpeg, "turbojpeg");
  for (let i = 0; i < files.length; i++) {
    const out = new Uint8Array(TOY_IMAGE_BYTES);
    const size = await dec.decodeInto(Deno.readFileSync(files[i]), out, {
      width: 112,
      height: 112,
    });
    assert.deepEqual(size, { width: 112, height: 112 });
    assertBytesEqual(out, pil[i], `pixels of ${files[i]}`);
  }
  dec.close();
});

Deno.test("WASM fallback decodes the same JPEGs within a few grey levels of libjpeg-turbo", async () => {
  const tj = openTurboJpeg()!;
  const jpeg = tj.encode(toyImage(3), 112, 112, 90);
  const ref = new Uint8Array(TOY_IMAGE_BYTES);
  tj.decodeInto(jpeg, ref);
  tj.close();
  const wasm = await createDecoder("wasm");
  assert.equal(wasm.jpeg, "wasm");
  const out = new Uint8Array(TOY_IMAGE_BYTES);
  await wasm.decodeInto(jpeg, out);
  let maxDiff = 0, sum = 0;
  for (let i = 0; i < out.length; i++) {
    const d = Math.abs(out[i] - ref[i]);
    maxDiff = Math.max(maxDiff, d);
    sum += d;
  }
  assert.ok(sum / out.length < 1, `mean abs difference ${sum / out.length}`);
  assert.ok(maxDiff <= 16, `max difference ${maxDiff}`);
  await assert.rejects(async () => {
    await wasm.decodeInto(jpeg, out, { width: 100, height: 112 });
  }, /image is 112x112, expected 100x112/);
});

Deno.test("PNG decode matches PIL for RGB, grey, palette, RGBA, 16-bit and 1-bit images", async () => {
  const dir = await Deno.makeTempDir();
  const code = [
    "import sys, numpy as np",
    "from PIL import Image",
    "d = sys.argv[1]",
    "rng = np.random.default_rng(0)",
    "a = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)",
    "a[:56] = a[:56] // 4 * 4  # smooth areas exercise every filter type",
    "Image.fromarray(a).save(d + '/rgb.png')",
    "Image.fromarray(a).convert('L').save(d + '/l.png')",
    "Image.fromarray(a).convert('P', palette=Image.ADAPTIVE, colors=37).save(d + '/p.png')",
    "Image.fromarray(a).convert('RGBA').save(d + '/rgba.png')",
    "Image.fromarray(a).convert('LA').save(d + '/la.png')",
    "Image.fromarray((a[..., 0].astype(np.uint16) * 257)).save(d + '/i16.png')",
    "open(d + '/i16.raw', 'wb').write(np.repeat(a[..., :1], 3, axis=2).tobytes())",
    "Image.fromarray(a).convert('1').save(d + '/bw.png')",
  ].join("\n");
  await python(["-c", code, dir]);
  // PIL clips 16-bit grey to 255 when converting to RGB; we keep the high byte (value/257)
  const names = ["rgb", "l", "p", "rgba", "la", "bw"];
  const files = names.map((n) => `${dir}/${n}.png`);
  const pil = await pilDecode(files);
  for (let i = 0; i < files.length; i++) {
    const bytes = Deno.readFileSync(files[i]);
    assert.equal(imageFormat(bytes), "png");
    const { width, height, data } = decodePng(bytes);
    assert.equal(width, 112);
    assert.equal(height, 112);
    assertBytesEqual(data, pil[i], `pixels of ${names[i]}.png`);
  }
  const i16 = decodePng(Deno.readFileSync(`${dir}/i16.png`)).data;
  assertBytesEqual(i16, Deno.readFileSync(`${dir}/i16.raw`), "pixels of i16.png");
});

Deno.test("our PNG encoder round-trips and PIL reads it", async () => {
  const dir = await Deno.makeTempDir();
  const px = toyImage(7);
  const png = encodePng(px, 112, 112);
  assertBytesEqual(decodePng(png).data, px);
  assert.deepEqual(probeImage(png), { format: "png", width: 112, height: 112 });
  Deno.writeFileSync(`${dir}/ours.png`, png);
  assertBytesEqual((await pilDecode([`${dir}/ours.png`]))[0], px, "PIL's pixels");
});

Deno.test("probeImage reads JPEG sizes from the frame header; garbage is refused", () => {
  const tj = openTurboJpeg()!;
  const jpeg = tj.encode(new Uint8Array(64 * 48 * 3), 64, 48);
  tj.close();
  assert.deepEqual(probeImage(jpeg), { format: "jpeg", width: 64, height: 48 });
  assert.throws(() => probeImage(new Uint8Array([1, 2, 3, 4, 5])), /not a JPEG or PNG image/);
  assert.throws(() => probeImage(Uint8Array.of(0xff, 0xd8, 0xff, 0xd9)), /no frame header/);
});
