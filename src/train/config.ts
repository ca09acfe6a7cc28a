/**
 * Loading a training config: an experiment module (`configs/<name>.ts`, exporting `config`)
 * merged over `BASE` (configs/base.ts), then command-line overrides `--key value`, checked
 * key by key, with the derived values filled in (output folder, `loss` ↔ `margin_list`).
 * Every problem is a {@link ConfigError} whose one-line message names the file or the flag.
 *
 * Config paths resolve against the working directory first, then against the repository this
 * module belongs to (`import.meta.url`), so `configs/glint360k_r50.ts` and the bare name
 * `glint360k_r50` work from anywhere, including when the repository is served over HTTP.
 *
 * @module
 */
import { BASE, type Config, type ConfigFile, type LossName } from "../../configs/base.ts";
import { config as TOY } from "../../configs/toy.ts";
import { BACKBONES } from "../nn/backbones/mod.ts";
import { pyFloatRepr } from "./log_line.ts";

/** A config problem; its message is one line naming the file or flag and the fix. */
export class ConfigError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** A loaded config. */
export interface LoadedConfig {
  /** The complete, checked config. */
  config: Config;
  /** The experiment's name: its file name without extension ("toy" for the default). */
  name: string;
  /** Where it came from: the module URL, or "embedded" for the default toy config. */
  source: string;
}

/** The valid config keys, in `BASE` order. */
export const CONFIG_KEYS: readonly (keyof Config)[] = Object.keys(BASE) as (keyof Config)[];

type Kind = "string" | "boolean" | "number" | "integer" | "numbers" | "strings" | "margin";

const INTEGER_KEYS = new Set<keyof Config>([
  "embedding_size",
  "batch_size",
  "num_epoch",
  "max_steps",
  "gradient_acc",
  "num_classes",
  "num_image",
  "verbose",
  "frequent",
  "save_every",
  "seed",
  "num_workers",
]);

const CHOICES: Partial<Record<keyof Config, readonly string[]>> = {
  network: BACKBONES,
  loss: ["arcface", "cosface", "combined"],
  optimizer: ["sgd", "adamw"],
  scheduler: ["step", "poly"],
};

/** Keys that the reference's Python config holds as floats (for the config dump). */
const FLOAT_KEYS = new Set<keyof Config>([
  "sample_rate",
  "lr",
  "momentum",
  "weight_decay",
  "dropout",
  "margin_list",
]);

const PRESETS: Record<"arcface" | "cosface", readonly number[]> = {
  arcface: [1, 0.5, 0],
  cosface: [1, 0, 0.4],
};

function kindOf(key: keyof Config): Kind {
  if (key === "margin_list") return "margin";
  const v = BASE[key];
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "string") return "string";
  if (typeof v === "number") return INTEGER_KEYS.has(key) ? "integer" : "number";
  return key === "val_targets" ? "strings" : "numbers";
}

const KIND_TEXT: Record<Kind, string> = {
  string: "a string",
  boolean: "true or false",
  number: "a number",
  integer: "an integer",
  numbers: "a list of numbers",
  strings: "a list of strings",
  margin: "three numbers (m1, m2, m3)",
};

function validKeys(): string {
  return `valid keys: ${CONFIG_KEYS.join(", ")}`;
}

function isConfigKey(k: string): k is keyof Config {
  return Object.hasOwn(BASE, k);
}

/** Checks the type of one value; returns a copy (arrays copied) or throws with `where`. */
function checkType(key: keyof Config, v: unknown, where: string): unknown {
  const kind = kindOf(key);
  const bad = () =>
    new ConfigError(`${where}: ${key} must be ${KIND_TEXT[kind]}, got ${JSON.stringify(v)}`);
  switch (kind) {
    case "string":
      if (typeof v !== "string") throw bad();
      return v;
    case "boolean":
      if (typeof v !== "boolean") throw bad();
      return v;
    case "number":
      if (typeof v !== "number" || !Number.isFinite(v)) throw bad();
      return v;
    case "integer":
      if (typeof v !== "number" || !Number.isSafeInteger(v)) throw bad();
      return v;
    case "numbers":
    case "margin":
      if (
        !Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isFinite(x)) ||
        (kind === "margin" && v.length !== 3)
      ) throw bad();
      return [...v];
    case "strings":
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw bad();
      return [...v];
  }
}

/** Checks an experiment module's `config` object: known keys, right types. */
function checkFile(obj: unknown, where: string): ConfigFile {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new ConfigError(
      `${where}: must export \`config\`, an object of keys of configs/base.ts (got ${
        obj === undefined ? "no export" : typeof obj
      })`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (!isConfigKey(k)) throw new ConfigError(`${where}: unknown key "${k}"; ${validKeys()}`);
    if (v === undefined) continue;
    out[k] = checkType(k, v, where);
  }
  return out as ConfigFile;
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

function parseList(s: string): string[] {
  const t = s.trim().replace(/^[[(]|[\])]$/g, "");
  return t.split(",").map((x) => x.trim().replace(/^["']|["']$/g, "")).filter((x) => x !== "");
}

function parseNumber(s: string): number {
  const t = s.trim().replaceAll("_", "");
  return t === "" ? NaN : Number(t);
}

/** Coerces one command-line value to the key's type. */
function coerce(key: keyof Config, raw: string, flag: string): unknown {
  const kind = kindOf(key);
  const bad = () =>
    new ConfigError(`${flag}: expected ${KIND_TEXT[kind]}, got ${JSON.stringify(raw)}`);
  switch (kind) {
    case "string":
      return raw;
    case "boolean": {
      const t = raw.trim().toLowerCase();
      if (TRUE.has(t)) return true;
      if (FALSE.has(t)) return false;
      throw bad();
    }
    case "number":
    case "integer": {
      const n = parseNumber(raw);
      if (!Number.isFinite(n) || (kind === "integer" && !Number.isSafeInteger(n))) throw bad();
      return n;
    }
    case "numbers":
    case "margin": {
      const ns = parseList(raw).map(parseNumber);
      if (!ns.every(Number.isFinite) || (kind === "margin" && ns.length !== 3)) throw bad();
      return ns;
    }
    case "strings":
      return parseList(raw);
  }
}

/**
 * Parses `--key value` / `--key=value` overrides (kebab-case accepted: `--max-steps 20`;
 * booleans may stand alone, `--fp16`, or be negated, `--no-fp16`). Lists are comma separated:
 * `--decay_epoch 10,16,22`, `--val_targets lfw,cfp_fp`, `--val_targets ""` for none.
 * @returns the overrides and, per key, the flag that set it
 * @throws ConfigError on an unknown key (listing the valid ones) or a value of the wrong type
 */
export function parseOverrides(
  args: readonly string[],
): { values: ConfigFile; flags: Partial<Record<keyof Config, string>> } {
  const values: Record<string, unknown> = {};
  const flags: Partial<Record<keyof Config, string>> = {};
  for (let i = 0; i < args.length; i++) {
    const tok = args[i];
    if (!tok.startsWith("--") || tok.length === 2) {
      throw new ConfigError(
        `unexpected argument "${tok}": overrides are --key value (${validKeys()})`,
      );
    }
    const eq = tok.indexOf("=");
    const name = (eq < 0 ? tok.slice(2) : tok.slice(2, eq)).replaceAll("-", "_");
    let raw: string | undefined = eq < 0 ? undefined : tok.slice(eq + 1);
    let key: keyof Config;
    if (isConfigKey(name)) key = name;
    else if (
      raw === undefined && name.startsWith("no_") && isConfigKey(name.slice(3)) &&
      kindOf(name.slice(3) as keyof Config) === "boolean"
    ) {
      key = name.slice(3) as keyof Config;
      raw = "false";
    } else {
      throw new ConfigError(`unknown config key "--${name}"; ${validKeys()}`);
    }
    if (raw === undefined) {
      const next = args[i + 1];
      if (kindOf(key) === "boolean") {
        if (next !== undefined && (TRUE.has(next.toLowerCase()) || FALSE.has(next.toLowerCase()))) {
          raw = next;
          i++;
        } else raw = "true";
      } else {
        if (next === undefined || /^--[a-zA-Z]/.test(next)) {
          throw new ConfigError(`--${key} needs a value`);
        }
        raw = next;
        i++;
      }
    }
    values[key] = coerce(key, raw, `--${key}`);
    flags[key] = `--${key}`;
  }
  return { values: values as ConfigFile, flags };
}

function presetOf(m: readonly number[]): LossName {
  for (const [name, p] of Object.entries(PRESETS)) {
    if (p.every((v, i) => v === m[i])) return name as LossName;
  }
  return "combined";
}

/** Applies one layer's `loss` / `margin_list` so that the two stay consistent. */
function applyMargin(cfg: Config, layer: ConfigFile, where: (k: keyof Config) => string): void {
  const { loss, margin_list: ml } = layer;
  if (ml !== undefined) {
    const preset = presetOf(ml);
    if (loss !== undefined && loss !== preset) {
      throw new ConfigError(
        `${where("loss")}: loss "${loss}" disagrees with margin_list [${ml.join(", ")}] ` +
          `(that is "${preset}"); give one of the two`,
      );
    }
    cfg.margin_list = [ml[0], ml[1], ml[2]];
    cfg.loss = preset;
  } else if (loss !== undefined) {
    if (loss === "combined") {
      throw new ConfigError(`${where("loss")}: loss "combined" needs a margin_list (m1, m2, m3)`);
    }
    const p = PRESETS[loss as "arcface" | "cosface"];
    if (!p) {
      throw new ConfigError(`${where("loss")}: loss must be one of ${CHOICES.loss!.join(", ")}`);
    }
    cfg.margin_list = [p[0], p[1], p[2]];
    cfg.loss = loss;
  }
}

/**
 * Checks value ranges of a complete config.
 * @param where the file or flag each key came from (for the message)
 * @throws ConfigError naming the key, its origin and the valid range
 */
export function validateConfig(
  c: Config,
  where: (k: keyof Config) => string = () => "config",
): void {
  const fail = (k: keyof Config, want: string) => {
    throw new ConfigError(`${where(k)}: ${k} = ${JSON.stringify(c[k])} ${want}`);
  };
  for (const k of CONFIG_KEYS) checkType(k, c[k], where(k));
  for (const [k, opts] of Object.entries(CHOICES) as [keyof Config, readonly string[]][]) {
    if (!opts.includes(c[k] as string)) fail(k, `is not one of ${opts.join(", ")}`);
  }
  const atLeast = (k: keyof Config, min: number) => {
    if (!((c[k] as number) >= min)) fail(k, `must be ≥ ${min}`);
  };
  for (const k of ["embedding_size", "batch_size", "num_epoch", "gradient_acc"] as const) {
    atLeast(k, 1);
  }
  for (const k of ["verbose", "frequent"] as const) atLeast(k, 1);
  for (const k of ["max_steps", "num_classes", "num_image", "save_every", "num_workers"] as const) {
    atLeast(k, 0);
  }
  for (const k of ["lr", "weight_decay"] as const) atLeast(k, 0);
  if (!(c.lr > 0)) fail("lr", "must be > 0");
  if (!(c.sample_rate > 0 && c.sample_rate <= 1)) fail("sample_rate", "must be in (0, 1]");
  if (!(c.interclass_filtering_threshold >= 0 && c.interclass_filtering_threshold < 1)) {
    fail("interclass_filtering_threshold", "must be in [0, 1) (0 disables it)");
  }
  if (!(c.momentum >= 0 && c.momentum < 1)) fail("momentum", "must be in [0, 1)");
  if (!(c.dropout >= 0 && c.dropout < 1)) fail("dropout", "must be in [0, 1)");
  if (!(c.margin_list[0] > 0)) fail("margin_list", "needs m1 > 0");
  if (c.decay_epoch.some((e) => e < 0)) fail("decay_epoch", "must hold epochs ≥ 0");
  if (c.scheduler === "poly" && !(c.warmup_epoch < c.num_epoch)) {
    fail("warmup_epoch", `must be < num_epoch (${c.num_epoch}) for the poly schedule`);
  }
  if (c.rec.trim() === "") {
    fail(
      "rec",
      "is empty: name the training data (a RecordIO folder, an image folder, synthetic or toy)",
    );
  }
  if (c.dali) fail("dali", "is not available here (NVIDIA DALI); set it to false");
}

const REPO_ROOT = new URL("../../", import.meta.url);

async function exists(url: URL): Promise<boolean> {
  if (url.protocol !== "file:") return true; // only an import can tell
  try {
    return (await Deno.stat(url)).isFile;
  } catch {
    return false;
  }
}

/** A file URL of an absolute POSIX path (each segment percent-encoded). */
function fileUrl(path: string): URL {
  return new URL(`file://${path.split("/").map(encodeURIComponent).join("/")}`);
}

function cwdUrl(): URL {
  try {
    return fileUrl(Deno.cwd().replace(/\/*$/, "/"));
  } catch {
    return REPO_ROOT;
  }
}

/** Names of the experiments shipped beside `base.ts` (when the repository is local). */
async function available(): Promise<string> {
  const dir = new URL("configs/", REPO_ROOT);
  if (dir.protocol !== "file:") return "";
  try {
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".ts") && e.name !== "base.ts") {
        names.push(e.name.slice(0, -3));
      }
    }
    return names.length ? `; available: ${names.sort().join(", ")}` : "";
  } catch {
    return "";
  }
}

/**
 * Where a config argument points: a URL as given; else a path relative to the working
 * directory if that file exists, else relative to the repository root; a bare name
 * (`glint360k_r50`) means `configs/<name>.ts`.
 */
export async function resolveConfigUrl(arg: string): Promise<URL> {
  if (/^(file|https?):/i.test(arg)) return new URL(arg);
  const bare = !arg.includes("/") && !/\.[cm]?[jt]s$/.test(arg);
  const rel = bare ? `configs/${arg}.ts` : arg;
  if (arg.startsWith("/")) return fileUrl(arg);
  const candidates = [new URL(rel, cwdUrl()), new URL(rel, REPO_ROOT)];
  for (const u of candidates) {
    if (u.protocol === "file:" && await exists(u)) return u;
  }
  const remote = candidates.find((u) => u.protocol !== "file:");
  if (remote) return remote;
  throw new ConfigError(
    `config file ${arg} not found (looked in ${candidates.map((u) => u.pathname).join(" and ")})` +
      await available(),
  );
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split("\n").find((l) => l.trim() !== "")?.trim() ?? "error";
}

/**
 * Loads a config: the experiment at `pathOrUrl` (the embedded toy config when undefined)
 * merged over `BASE`, then `overrides` (`--key value` …), checked, with derived values:
 * `output` defaults to `work_dirs/<name>`, `loss` and `margin_list` agree.
 * @throws ConfigError (one line) for a missing or malformed file, an unknown key, a wrong type
 *   or an out-of-range value
 */
export async function loadConfig(
  pathOrUrl: string | undefined,
  overrides: readonly string[] = [],
): Promise<LoadedConfig> {
  let file: ConfigFile;
  let name: string;
  let source: string;
  let display: string;
  if (pathOrUrl === undefined) {
    file = checkFile(TOY, "configs/toy.ts");
    name = "toy";
    source = "embedded";
    display = "configs/toy.ts";
  } else {
    const url = await resolveConfigUrl(pathOrUrl);
    display = pathOrUrl;
    let mod: Record<string, unknown>;
    try {
      mod = await import(url.href);
    } catch (e) {
      const msg = firstLine(e);
      // Only the file itself missing is "not found"; a module it imports failing is a load error.
      if (/not found|No such file|404/i.test(msg) && msg.includes(url.href)) {
        throw new ConfigError(
          `config file ${pathOrUrl} not found (${url.href})${await available()}`,
        );
      }
      throw new ConfigError(`config file ${pathOrUrl} failed to load: ${msg}`);
    }
    file = checkFile(mod.config, `config file ${pathOrUrl}`);
    name = url.pathname.split("/").pop()!.replace(/\.[cm]?[jt]s$/, "");
    source = url.href;
  }
  const { values, flags } = parseOverrides(overrides);
  const where = (k: keyof Config) =>
    flags[k] ?? (k in file ? `config file ${display}` : "configs/base.ts");

  const config = structuredClone(BASE) as Config;
  for (const [layer, at] of [[file, `config file ${display}`], [values, ""]] as const) {
    const { loss: _l, margin_list: _m, ...rest } = layer;
    Object.assign(config, structuredClone(rest));
    applyMargin(config, layer, (k) => at || (flags[k] ?? "--loss"));
  }
  if (config.output.trim() === "") config.output = `work_dirs/${name}`;
  validateConfig(config, where);
  return { config, name, source };
}

/** Python's `str()` of a config value, as the reference's dump prints it. */
function pyStr(key: keyof Config, v: unknown, nested = false): string {
  const float = FLOAT_KEYS.has(key);
  if (v === null || v === undefined) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") {
    return float || !Number.isInteger(v) ? pyFloatRepr(v) : String(v);
  }
  if (typeof v === "string") {
    return nested ? `'${v.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'` : v;
  }
  if (Array.isArray(v)) {
    const inner = v.map((x) => pyStr(key, x, true)).join(", ");
    return key === "margin_list" ? `(${inner})` : `[${inner}]`;
  }
  return String(v);
}

/**
 * The config dump that opens `training.log`, one message per key as the reference logs it:
 * `": " + key` padded to 25 columns, then the value as Python prints it. `extra` (derived
 * values such as total_step) follows the config's keys.
 */
export function formatConfig(config: Config, extra: Record<string, unknown> = {}): string[] {
  const lines: string[] = [];
  const entries: [string, unknown][] = [
    ...CONFIG_KEYS.map((k) => [k, config[k]] as [string, unknown]),
    ...Object.entries(extra),
  ];
  for (const [k, v] of entries) {
    lines.push(`: ${k}${" ".repeat(Math.max(0, 25 - k.length))}${pyStr(k as keyof Config, v)}`);
  }
  return lines;
}
