/**
 * Configs: every seed experiment against REFERENCE.md's table, the embedded toy default,
 * command-line overrides and their coercion, the one-line errors for bad files and flags,
 * the config dump, and loading from a repository served over HTTP.
 */
import assert from "node:assert/strict";
import { BASE, type Config } from "../../configs/base.ts";
import {
  CONFIG_KEYS,
  ConfigError,
  formatConfig,
  loadConfig,
  parseOverrides,
} from "../../src/train/config.ts";

const REPO = new URL("../../", import.meta.url);

type Row = [
  name: string,
  loss: string,
  network: string,
  sampleRate: number,
  wd: number,
  classes: number,
  images: number,
  epochs: number,
  decay: number[],
  batch: number,
];

// REFERENCE.md, "Configs (2021 values; all use E=512, momentum 0.9, batch 128 per GPU, lr 0.1, fp16 on)".
const MS1M = [93_431, 5_179_510] as const;
const GLINT = [360_232, 17_091_657] as const;
const TABLE: Row[] = [
  ...["r18", "r34", "r50", "r100"].map((
    n,
  ): Row => [`ms1mv3_${n}`, "arcface", n, 1, 5e-4, ...MS1M, 25, [10, 16, 22], 128]),
  ["ms1mv3_r2060", "arcface", "r2060", 1, 5e-4, ...MS1M, 25, [10, 16, 22], 64],
  ["ms1mv3_mbf", "arcface", "mbf", 1, 2e-4, ...MS1M, 30, [10, 20, 25], 128],
  ...["r18", "r34", "r50", "r100"].map((
    n,
  ): Row => [`glint360k_${n}`, "cosface", n, 1, 5e-4, ...GLINT, 20, [8, 12, 15, 18], 128]),
  ["glint360k_mbf", "cosface", "mbf", 0.1, 2e-4, ...GLINT, 20, [8, 12, 15, 18], 128],
  ["3millions", "arcface", "r50", 1, 5e-4, 3_000_000, 0, 30, [10, 16, 22], 128],
  ["3millions_pfc", "arcface", "r50", 0.1, 5e-4, 3_000_000, 0, 30, [10, 16, 22], 128],
  ["speed", "arcface", "r50", 1, 5e-4, 1_000_000, 0, 30, [10, 16, 22], 128],
];

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    return e.message;
  }
  throw new Error("expected an error");
}

Deno.test("every seed experiment loads with REFERENCE.md's values", async () => {
  for (const [name, loss, network, sr, wd, classes, images, epochs, decay, batch] of TABLE) {
    const { config: c, name: got, source } = await loadConfig(`configs/${name}.ts`);
    assert.equal(got, name);
    assert.ok(source.endsWith(`/configs/${name}.ts`), source);
    const want: Partial<Config> = {
      loss: loss as Config["loss"],
      margin_list: loss === "arcface" ? [1, 0.5, 0] : [1, 0, 0.4],
      network,
      sample_rate: sr,
      weight_decay: wd,
      num_classes: classes,
      num_image: images,
      num_epoch: epochs,
      decay_epoch: decay,
      batch_size: batch,
      embedding_size: 512,
      momentum: 0.9,
      lr: 0.1,
      fp16: true,
      optimizer: "sgd",
      scheduler: "step",
      output: `work_dirs/${name}`,
      verbose: 2000,
      frequent: 50,
    };
    for (const [k, v] of Object.entries(want)) {
      assert.deepStrictEqual(c[k as keyof Config], v, `${name}.${k}`);
    }
    if (images === 0) {
      assert.equal(c.rec, "synthetic");
      assert.deepStrictEqual(c.val_targets, []);
    } else {
      assert.equal(
        c.rec,
        name.startsWith("ms1mv3") ? "/train_tmp/ms1m-retinaface-t1" : "/train_tmp/glint360k",
      );
      assert.deepStrictEqual(c.val_targets, ["lfw", "cfp_fp", "agedb_30"]);
    }
  }
});

Deno.test("no config means the embedded toy run; a bare name finds configs/<name>.ts", async () => {
  const toy = await loadConfig(undefined, []);
  assert.equal(toy.name, "toy");
  assert.equal(toy.source, "embedded");
  assert.equal(toy.config.network, "toy");
  assert.match(toy.config.rec, /^toy:/);
  assert.equal(toy.config.output, "work_dirs/toy");
  const bare = await loadConfig("glint360k_r50");
  assert.equal(bare.config.loss, "cosface");
  const abs = await loadConfig(new URL("configs/ms1mv3_mbf.ts", REPO).pathname);
  assert.equal(abs.config.weight_decay, 2e-4);
});

Deno.test("--key value overrides coerce to the base's types", async () => {
  const { config: c } = await loadConfig("configs/ms1mv3_r50.ts", [
    "--batch_size",
    "64",
    "--lr=0.2",
    "--fp16",
    "false",
    "--resume",
    "--decay-epoch",
    "2,4",
    "--val_targets",
    "lfw, agedb_30",
    "--max-steps",
    "20",
    "--num_classes",
    "1_000",
    "--output",
    "/tmp/x",
    "--margin_list",
    "(1.0, 0.0, 0.35)",
    "--no-dali",
  ]);
  assert.equal(c.batch_size, 64);
  assert.equal(c.lr, 0.2);
  assert.equal(c.fp16, false);
  assert.equal(c.resume, true);
  assert.deepStrictEqual(c.decay_epoch, [2, 4]);
  assert.deepStrictEqual(c.val_targets, ["lfw", "agedb_30"]);
  assert.equal(c.max_steps, 20);
  assert.equal(c.num_classes, 1000);
  assert.equal(c.output, "/tmp/x");
  assert.deepStrictEqual(c.margin_list, [1, 0, 0.35]);
  assert.equal(c.loss, "combined");
  assert.equal(c.dali, false);

  const none = parseOverrides(["--val_targets", "", "--fp16", "--weight_decay", "5e-4"]);
  assert.deepStrictEqual(none.values, { val_targets: [], fp16: true, weight_decay: 5e-4 });
  assert.equal(none.flags.fp16, "--fp16");
  // Switching the 2021 loss name moves margin_list with it, and the reverse.
  assert.deepStrictEqual(
    (await loadConfig("configs/ms1mv3_r50.ts", ["--loss", "cosface"])).config.margin_list,
    [1, 0, 0.4],
  );
  assert.equal(
    (await loadConfig("glint360k_r18", ["--margin_list", "1,0.5,0"])).config.loss,
    "arcface",
  );
  // BASE is never mutated by loading.
  assert.deepStrictEqual(BASE.decay_epoch, [10, 16, 22]);
});

Deno.test("bad flags are one-line errors naming the flag", async () => {
  const unknown = await errorOf(loadConfig(undefined, ["--batchsize", "3"]));
  assert.match(unknown, /unknown config key "--batchsize"; valid keys: network, loss, margin_list/);
  for (const k of CONFIG_KEYS) assert.ok(unknown.includes(k), k);
  assert.match(
    await errorOf(loadConfig(undefined, ["--batch_size", "6.5"])),
    /--batch_size: expected an integer, got "6.5"/,
  );
  assert.match(await errorOf(loadConfig(undefined, ["--lr", "fast"])), /--lr: expected a number/);
  assert.match(
    await errorOf(loadConfig(undefined, ["--margin_list", "1,2"])),
    /--margin_list: expected three numbers/,
  );
  assert.match(
    await errorOf(loadConfig(undefined, ["--fp16", "maybe"])),
    /unexpected argument "maybe"/,
  );
  assert.match(await errorOf(loadConfig(undefined, ["--lr"])), /--lr needs a value/);
  assert.match(await errorOf(loadConfig(undefined, ["--lr", "--fp16"])), /--lr needs a value/);
  assert.equal((await loadConfig(undefined, ["--warmup_epoch", "-1"])).config.warmup_epoch, -1);
  assert.match(
    await errorOf(loadConfig(undefined, ["configs/x.ts"])),
    /unexpected argument "configs\/x.ts"/,
  );
  assert.match(
    await errorOf(loadConfig(undefined, ["--sample_rate", "1.5"])),
    /--sample_rate: sample_rate = 1.5 must be in \(0, 1\]/,
  );
  assert.match(
    await errorOf(loadConfig(undefined, ["--optimizer", "adam"])),
    /--optimizer: optimizer = "adam" is not one of sgd, adamw/,
  );
  assert.match(
    await errorOf(loadConfig(undefined, ["--network", "r42"])),
    /network = "r42" is not one of r18, r34/,
  );
  assert.match(
    await errorOf(loadConfig(undefined, ["--dali"])),
    /--dali: dali = true is not available here/,
  );
  assert.match(
    await errorOf(loadConfig(undefined, ["--loss", "cosface", "--margin_list", "1,0.5,0"])),
    /loss "cosface" disagrees with margin_list \[1, 0.5, 0\]/,
  );
});

Deno.test("bad config files are one-line errors naming the file", async () => {
  const dir = await Deno.makeTempDir();
  const base = new URL("configs/base.ts", REPO).href;
  try {
    const write = (name: string, body: string) => Deno.writeTextFile(`${dir}/${name}`, body);
    await write("wrong_type.ts", `export const config = { batch_size: "128" };`);
    await write("unknown_key.ts", `export const config = { batchsize: 128 };`);
    await write("throws.ts", `throw new Error("boom\\nsecond line");\nexport const config = {};`);
    await write("syntax.ts", `export const config = { lr: 0.1, ;`);
    await write("bad_import.ts", `import "./nowhere.ts";\nexport const config = {};`);
    await write("no_export.ts", `export const settings = {};`);
    await write("bad_range.ts", `export const config = { rec: "", network: "toy" };`);
    await write(
      "good.ts",
      `import type { ConfigFile } from "${base}";\nexport const config: ConfigFile = { rec: "toy", network: "toy" };`,
    );

    const f = (n: string) => `${dir}/${n}`;
    assert.match(
      await errorOf(loadConfig(f("wrong_type.ts"))),
      /config file .*wrong_type\.ts: batch_size must be an integer, got "128"/,
    );
    assert.match(
      await errorOf(loadConfig(f("unknown_key.ts"))),
      /unknown_key\.ts: unknown key "batchsize"; valid keys: /,
    );
    assert.match(
      await errorOf(loadConfig(f("throws.ts"))),
      /config file .*throws\.ts failed to load: .*boom$/,
    );
    assert.match(
      await errorOf(loadConfig(f("syntax.ts"))),
      /config file .*syntax\.ts failed to load/,
    );
    assert.match(
      await errorOf(loadConfig(f("no_export.ts"))),
      /no_export\.ts: must export `config`/,
    );
    assert.match(await errorOf(loadConfig(f("bad_range.ts"))), /bad_range\.ts: rec = "" is empty/);
    assert.match(await errorOf(loadConfig(f("missing.ts"))), /config file .*missing\.ts not found/);
    assert.match(
      await errorOf(loadConfig("configs/nope.ts")),
      /config file configs\/nope\.ts not found .*available: .*glint360k_r50/,
    );
    const good = await loadConfig(f("good.ts"), ["--num_epoch", "2"]);
    assert.equal(good.name, "good");
    assert.equal(good.config.output, "work_dirs/good");
    assert.equal(good.config.num_epoch, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the config dump prints each key as the reference does", async () => {
  const { config } = await loadConfig("configs/ms1mv3_r50.ts");
  const lines = formatConfig(config, { total_step: 1011600 });
  assert.equal(lines.length, CONFIG_KEYS.length + 1);
  const byKey = new Map(lines.map((l) => [l.slice(2, 27).trim(), l]));
  assert.equal(byKey.get("network"), ": network                  r50");
  assert.equal(byKey.get("margin_list"), ": margin_list              (1.0, 0.5, 0.0)");
  assert.equal(byKey.get("sample_rate"), ": sample_rate              1.0");
  assert.equal(byKey.get("weight_decay"), ": weight_decay             0.0005");
  assert.equal(byKey.get("fp16"), ": fp16                     True");
  assert.equal(byKey.get("decay_epoch"), ": decay_epoch              [10, 16, 22]");
  assert.equal(
    byKey.get("val_targets"),
    ": val_targets              ['lfw', 'cfp_fp', 'agedb_30']",
  );
  assert.equal(byKey.get("rec"), ": rec                      /train_tmp/ms1m-retinaface-t1");
  assert.equal(byKey.get("total_step"), ": total_step               1011600");
  // `": " + key + " " * (25 - len(key)) + str(value)`: no space at all after a longer key.
  for (const [i, k] of CONFIG_KEYS.entries()) {
    assert.ok(lines[i].startsWith(`: ${k.padEnd(25)}`), k);
  }
  assert.ok(lines.includes(": interclass_filtering_threshold0"));
});

/** Serves the repository's files read-only on loopback. */
function serveRepo(): { port: number; served: string[]; close: () => Promise<void> } {
  const served: string[] = [];
  const types: Record<string, string> = {
    ts: "application/typescript",
    js: "application/javascript",
    json: "application/json",
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("no", { status: 400 });
    served.push(path);
    try {
      const body = await Deno.readFile(new URL(`.${path}`, REPO));
      const ext = path.split(".").pop()!;
      return new Response(body, { headers: { "content-type": types[ext] ?? "text/plain" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return { port: server.addr.port, served, close: () => server.shutdown() };
}

Deno.test("configs resolve from a repository served over HTTP, from an empty folder", async () => {
  const srv = serveRepo();
  const cwd = await Deno.makeTempDir();
  const denoDir = await Deno.makeTempDir();
  try {
    const root = `http://127.0.0.1:${srv.port}/`;
    const code = `import { loadConfig } from "${root}src/train/config.ts";
      const a = await loadConfig("configs/glint360k_mbf.ts", ["--batch_size", "32"]);
      const b = await loadConfig("speed");
      const c = await loadConfig(undefined);
      let err = "";
      try { await loadConfig("configs/none.ts"); } catch (e) { err = e.message; }
      console.log(JSON.stringify([a.source, a.config.sample_rate, a.config.batch_size, b.config.num_classes, c.name, err]));`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-lock", "--no-config", code],
      cwd,
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, stderr);
    const [source, sr, batch, classes, toyName, err] = JSON.parse(
      new TextDecoder().decode(out.stdout),
    );
    assert.equal(source, `${root}configs/glint360k_mbf.ts`);
    assert.equal(sr, 0.1);
    assert.equal(batch, 32);
    assert.equal(classes, 1_000_000);
    assert.equal(toyName, "toy");
    assert.match(err, /config file configs\/none\.ts not found/);
    // The module graph itself came over HTTP (configs, and the backbone list's imports).
    for (
      const p of [
        "/src/train/config.ts",
        "/configs/base.ts",
        "/configs/toy.ts",
        "/configs/speed.ts",
      ]
    ) {
      assert.ok(srv.served.includes(p), `${p} not fetched: ${srv.served.join(" ")}`);
    }
  } finally {
    await srv.close();
    await Deno.remove(cwd, { recursive: true });
    await Deno.remove(denoDir, { recursive: true });
  }
});
