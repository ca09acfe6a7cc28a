// Every entry script runs straight from a URL: the repository is served over HTTP on loopback
// and `deno run -A http://127.0.0.1:PORT/train.ts` trains a few toy steps from an empty folder
// (kernels, workers and configs resolve from import.meta.url; nothing assumes a checkout).
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;
const TYPES: Record<string, string> = {
  ts: "application/typescript",
  wgsl: "text/plain",
  json: "application/json",
  py: "text/plain",
};

Deno.test("train.ts runs from an HTTP URL in an empty folder", async () => {
  const fetched = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("no", { status: 400 });
    try {
      const body = await Deno.readFile(`${root}${path.slice(1)}`);
      fetched.add(path);
      const ext = path.split(".").pop() ?? "";
      return new Response(body, { headers: { "content-type": TYPES[ext] ?? "text/plain" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  try {
    const cwd = await Deno.makeTempDir();
    const url = `http://127.0.0.1:${server.addr.port}`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-lock",
        "--reload=" + url,
        `${url}/train.ts`,
        "--rec",
        "toy:ids=4,per=8,seed=2,pairs=20",
        "--num_classes",
        "4",
        "--num_image",
        "32",
        "--batch_size",
        "8",
        "--num_epoch",
        "1",
        "--frequent",
        "1",
        "--num_workers",
        "1",
        "--output",
        `${cwd}/out`,
      ],
      cwd,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(new TextDecoder().decode(out.stdout), /held-out accuracy: \d+\.\d\d%/);
    for (const f of ["/train.ts", "/configs/toy.ts", "/kernels/gemm.wgsl", "/src/data/worker.ts"]) {
      assert.ok(
        fetched.has(f),
        `${f} was not fetched over HTTP (${[...fetched].length} files were)`,
      );
    }
    assert.deepEqual([...Deno.readDirSync(cwd)].map((e) => e.name), ["out"]);
  } finally {
    await server.shutdown();
  }
});
