/**
 * Rows of `deno task bench data` for the IJB evaluation's input stage: loose-crop JPEGs read,
 * decoded and aligned to 112×112 with their 5 landmarks (src/eval/align_pool.ts) — on the main
 * thread, by one worker, and by a pool of one worker per core — beside the reference's
 * eval_ijbc.py path in Python on the same files in the same run (cv2.imread, scikit-image
 * `SimilarityTransform.estimate`, cv2.warpAffine, cvtColor; one process, OpenCV single
 * threaded). Each configuration runs twice, interleaved, and keeps its better rate.
 *
 * @module
 */
import { ALIGNED_BYTES, createAligner, type FaceAligner } from "../eval/align_pool.ts";
import { readIjbMeta } from "../eval/ijb_meta.ts";
import { writeIjbSet } from "../eval/testsets.ts";
import { type BenchRow, row } from "./report.ts";

const PYTHON = "/usr/bin/python3";

const CV2_SCRIPT = `
import sys, time, json
import numpy as np, cv2
from skimage import transform as trans
cv2.setNumThreads(1)
root, seconds = sys.argv[1], float(sys.argv[2])
src = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
items = []
for line in open(root + '/meta/ijbc_name_5pts_score.txt'):
    f = line.strip().split(' ')
    items.append((root + '/loose_crop/' + f[0], np.array(f[1:11], dtype=np.float32).reshape(5, 2)))
def one(path, lmk):
    img = cv2.imread(path)
    assert img is not None, path
    t = trans.SimilarityTransform()
    t.estimate(lmk, src)
    out = cv2.warpAffine(img, t.params[0:2, :], (112, 112), borderValue=0.0)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
for p, l in items[:32]:
    one(p, l)
n, t0, c0 = 0, time.perf_counter(), time.process_time()
while True:
    for p, l in items:
        one(p, l)
        n += 1
    dt = time.perf_counter() - t0
    if dt >= seconds:
        break
print(json.dumps({"rate": n / dt, "cores": (time.process_time() - c0) / dt}))
`;

async function cv2Rate(
  root: string,
  seconds: number,
): Promise<{ rate: number; cores: number } | null> {
  try {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", CV2_SCRIPT, root, String(seconds)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } catch (e) {
    console.warn(
      `OpenCV peer unavailable: ${(e as Error).message.split("\n").slice(-2).join(" ")}`,
    );
    return null;
  }
}

/** CPU seconds (user + system, all threads) this process has used; NaN off Linux. */
function cpuSeconds(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/** Images/s of `aligner` over `files` for `seconds`, `inflight` jobs of `batch` at a time. */
async function alignRate(
  aligner: FaceAligner,
  files: string[],
  landmarks: Float32Array,
  seconds: number,
): Promise<{ rate: number; cores: number }> {
  const batch = 128;
  const inflight = aligner.workers === 0 ? 1 : 2;
  const bufs = Array.from(
    { length: inflight },
    () => new Uint8Array(new SharedArrayBuffer(batch * ALIGNED_BYTES)),
  );
  const n = files.length;
  let next = 0;
  const job = () => {
    const a = next % n, b = Math.min(n, a + batch);
    next += b - a;
    return { files: files.slice(a, b), landmarks: landmarks.subarray(10 * a, 10 * b) };
  };
  await aligner.align(job(), bufs[0]); // warm up (JIT, page cache)
  let done = 0;
  const c0 = cpuSeconds();
  const t0 = performance.now();
  const lane = async (buf: Uint8Array) => {
    while (performance.now() - t0 < seconds * 1000) {
      const j = job();
      await aligner.align(j, buf);
      done += j.files.length;
    }
  };
  await Promise.all(bufs.map(lane));
  const dt = (performance.now() - t0) / 1000;
  return { rate: done / dt, cores: (cpuSeconds() - c0) / dt };
}

/**
 * Generates an IJB-C-style set of ~`images` loose crops under `dir` and measures decode+align
 * images/s: main thread, 1 worker, `cores` workers, and the OpenCV/scikit-image peer.
 */
export async function ijbAlignRows(
  dir: string,
  opts: { quick: boolean; cores: number },
): Promise<BenchRow[]> {
  const seconds = opts.quick ? 0.5 : 3;
  const identities = opts.quick ? 12 : 170; // 12 loose crops per identity: 144 or 2040
  const set = await writeIjbSet(dir, { target: "IJBC", seed: 0, identities });
  const meta = await readIjbMeta(set.dir, "ijbc");
  const files = meta.names.map((f) => `${set.dir}/loose_crop/${f}`);
  let bytes = 0;
  for (const f of files) bytes += (await Deno.stat(f)).size;
  const shape = `${files.length} loose crops 150-250px ~${
    (bytes / files.length / 1024).toFixed(1)
  }KB`;
  const configs = [0, 1, opts.cores];
  const best = new Map<number, { rate: number; cores: number }>();
  let peer: { rate: number; cores: number } | null = null;
  for (let rep = 0; rep < (opts.quick ? 1 : 2); rep++) {
    for (const w of configs) {
      const aligner = await createAligner(w);
      try {
        const r = await alignRate(aligner, files, meta.landmarks, seconds);
        if (r.rate > (best.get(w)?.rate ?? 0)) best.set(w, r);
      } finally {
        aligner.close();
      }
    }
    const p = await cv2Rate(set.dir, seconds);
    if (p !== null && p.rate > (peer?.rate ?? 0)) peer = p;
  }
  const peerName = "cv2.imread+skimage+cv2.warpAffine, 1 process";
  const main = best.get(0)!.rate;
  const extra = (w: number | null) => {
    const r = w === null ? peer : best.get(w)!;
    return {
      shape,
      peer_name: peerName,
      // CPU cores busy on average (< workers: the machine was shared), and per-core rates
      cores_used: r?.cores ?? null,
      per_cpu_second: r ? r.rate / r.cores : null,
      peer_per_cpu_second: peer ? peer.rate / peer.cores : null,
      vs_main_thread: w === null ? null : best.get(w)!.rate / main,
    };
  };
  const name = (w: number) =>
    `ijb decode+align, ${w === 0 ? "main thread" : w === 1 ? "1 worker" : `pool of ${w}`}`;
  return configs.map((w) =>
    row(name(w), "images/s", best.get(w)!.rate, peer?.rate ?? null, extra(w))
  );
}
