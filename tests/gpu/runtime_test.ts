// The runtime: batching (one submit per step), the caching allocator, limits, autograd
// bookkeeping, finite-difference gradients, the profiler, and the no-adapter message.
import assert from "node:assert/strict";
import { NO_ADAPTER_MESSAGE } from "../../src/gpu/device.ts";
import { sizeClass } from "../../src/gpu/allocator.ts";
import {
  add,
  backward,
  linear,
  matmul,
  mul,
  noGrad,
  normalizeRows,
  scale,
  sumAll,
  tapeLength,
  Tensor,
  tidy,
} from "../../src/tensor/mod.ts";
import { randn, setup } from "../util.ts";

const g = await setup();

function leaf(shape: number[], data = randn(shape.reduce((a, b) => a * b, 1))): Tensor {
  const t = Tensor.fromArray(data, shape);
  t.requiresGrad = true;
  return t;
}

Deno.test("size classes waste at most 25 % and are monotonic", () => {
  let prev = 0;
  for (let b = 1; b < 1 << 22; b = Math.ceil(b * 1.37) + 1) {
    const c = sizeClass(b);
    assert.ok(c >= b && c >= prev, `class of ${b} is ${c}`);
    if (b > 4096) assert.ok(c <= b * 1.25 + 1, `class ${c} of ${b} wastes > 25 %`);
    prev = c;
  }
});

Deno.test("a whole step records into one submit; reads are the only sync point", async () => {
  const x = leaf([16, 32]);
  const w = leaf([8, 32]);
  await x.read();
  const before = g.stats.submits;
  const loss = tidy(() => sumAll(normalizeRows(add(linear(x, w), scale(linear(x, w), 0.5)))));
  backward(loss);
  assert.equal(g.stats.submits, before, "nothing is submitted before a read");
  await w.grad!.read();
  assert.equal(g.stats.submits, before + 1, "forward + backward + readback in one submit");
});

Deno.test("steps in tidy() leak nothing: live bytes return to the same level", async () => {
  const x = leaf([16, 32]);
  const w = leaf([8, 32]);
  const step = () => {
    const loss = tidy(() => sumAll(mul(linear(x, w), linear(x, w))));
    backward(loss);
    loss.dispose();
  };
  step();
  await w.grad!.read();
  const live = g.allocator.stats.liveBytes;
  const created = g.allocator.stats.created;
  for (let i = 0; i < 3; i++) step();
  await w.grad!.read();
  assert.equal(g.allocator.stats.liveBytes, live, "live bytes after more steps");
  assert.equal(g.allocator.stats.created, created, "no new buffers after the first step");
  assert.equal(tapeLength(), 0, "tape empty after backward");
});

Deno.test("gradients accumulate across backward calls; noGrad records nothing", async () => {
  const xh = randn(12);
  const x = leaf([3, 4], xh);
  backward(sumAll(scale(x, 2)));
  backward(sumAll(scale(x, 3)));
  assert.deepEqual(Array.from(await x.grad!.read()), new Array(12).fill(5));
  const y = noGrad(() => scale(x, 2));
  assert.equal(y.requiresGrad, false);
  assert.equal(tapeLength(), 0);
  assert.throws(() => backward(y), /backward: the loss does not depend on any tensor/);
  assert.throws(() => backward(scale(x, 1)), /backward: loss has 12 elements/);
});

Deno.test("gradients of a composite function agree with finite differences", async () => {
  const [M, K, N] = [3, 5, 4];
  const xh = randn(M * K), wh = randn(N * K), ch = randn(M * N);
  const f = (xv: Float32Array) =>
    noGrad(() =>
      sumAll(mul(
        normalizeRows(matmul(Tensor.fromArray(xv, [M, K]), Tensor.fromArray(wh, [N, K]), {
          transB: true,
        })),
        Tensor.fromArray(ch, [M, N]),
      ))
    );
  const x = leaf([M, K], xh);
  const w = Tensor.fromArray(wh, [N, K]);
  backward(
    sumAll(mul(normalizeRows(matmul(x, w, { transB: true })), Tensor.fromArray(ch, [M, N]))),
  );
  const analytic = await x.grad!.read();
  const eps = 1e-2;
  for (let i = 0; i < M * K; i++) {
    const p = xh.slice(), m = xh.slice();
    p[i] += eps;
    m[i] -= eps;
    const fd = ((await f(p).read())[0] - (await f(m).read())[0]) / (2 * eps);
    assert.ok(
      Math.abs(fd - analytic[i]) <= 2e-2 * Math.max(1, Math.abs(fd)),
      `d/dx[${i}]: finite difference ${fd} vs analytic ${analytic[i]}`,
    );
  }
});

Deno.test("requests beyond the adapter's limits throw errors naming op and limit", () => {
  assert.throws(
    () => Tensor.empty([g.limits.maxBufferSize], "f32", "huge"),
    /huge \[\d+\] f32: needs a buffer of \d+ bytes, beyond this adapter's maxBufferSize/,
  );
  const n = g.maxBinding / 4 + 1024;
  if (n * 4 <= g.limits.maxBufferSize) {
    const big = Tensor.empty([n], "f32", "big");
    assert.throws(
      () => scale(big, 2),
      /scale: binding 0 spans \d+ bytes, beyond this adapter's maxStorageBufferBindingSize/,
    );
    big.dispose();
  }
});

Deno.test("views: row ranges at unaligned offsets read and compute correctly", async () => {
  const h = randn(7 * 3);
  const t = Tensor.fromArray(h, [7, 3]);
  const v = t.rows(2, 5); // element offset 6: not 256-byte aligned
  assert.deepEqual(Array.from(await v.read()), Array.from(h.slice(6, 15)));
  const s = await scale(v, 2).read();
  assert.deepEqual(Array.from(s), Array.from(h.slice(6, 15), (x) => 2 * x));
  assert.throws(() => t.rows(5, 8), /rows: range 5..8 outside 0..7 of \[7, 3\]/);
  t.dispose();
  v.dispose();
  assert.throws(() => v.buffer, /was disposed/);
});

Deno.test("ARCFACE_PROFILE=1 prints per-kernel time and call counts", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./profile_script.ts", import.meta.url).pathname],
    env: { ARCFACE_PROFILE: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(text, /kernel\s+calls\s+total ms\s+mean µs\s+share/);
  for (const k of ["matmul", "normalize rows", "normalize rows backward", "reduce sum axis 1"]) {
    assert.match(text, new RegExp(`^${k}\\s+\\d+\\s+\\d+\\.\\d+`, "m"), `profile lists ${k}`);
  }
});

Deno.test("the no-adapter message names the fix", () => {
  assert.match(NO_ADAPTER_MESSAGE, /apt-get install mesa-vulkan-drivers/);
});
