import assert from "node:assert/strict";
import { pickleDumps, PyTuple, verificationBinBytes } from "../../src/data/pickle_write.ts";
import { python } from "./helpers.ts";

Deno.test("pickleDumps: Python reads every supported type back", async () => {
  const big = new Uint8Array(300).map((_, i) => i & 0xff);
  const value = new PyTuple([
    [null, true, false, 0, -5, 2 ** 31 - 1, 2 ** 40, 1.5, "héllo"],
    new Uint8Array([1, 2, 255]),
    big,
    new PyTuple([]),
    new PyTuple([1, 2, 3, 4, 5]),
    Array.from({ length: 2500 }, (_, i) => i % 7 === 0),
  ]);
  const code = [
    "import sys, pickle",
    "v = pickle.loads(sys.stdin.buffer.read())",
    "a, b, big, e, t5, flags = v",
    "assert type(v) is tuple and len(v) == 6",
    "assert a == [None, True, False, 0, -5, 2**31 - 1, 2**40, 1.5, 'héllo'], a",
    "assert b == bytes([1, 2, 255]) and type(b) is bytes",
    "assert big == bytes(i & 255 for i in range(300))",
    "assert e == () and t5 == (1, 2, 3, 4, 5)",
    "assert flags == [i % 7 == 0 for i in range(2500)]",
    "print('ok')",
  ].join("\n");
  assert.equal((await python(["-c", code], pickleDumps(value))).trim(), "ok");
});

Deno.test("verificationBinBytes refuses a count mismatch", () => {
  assert.throws(
    () => verificationBinBytes([new Uint8Array(1)], [true]),
    /2 images per pair: 1 for 1/,
  );
});
