// Batched GEMM: C[b] = alpha · op(A[b]) · op(B[b]) (+ bias) (+ beta · C[b]).
// op(A) is M×K (A stored K×M when TRANS_A), op(B) is K×N (B stored N×K when TRANS_B).
// Element type T (f32 or f16) from the dtype header; accumulation in f32.
// Baseline register-tiled kernel: each invocation computes a 4×4 block of C, no workgroup
// memory (lavapipe runs a workgroup on one thread, where barriers cost more than they save).
// Row/column indices past the edge are clamped for loads and masked at the store, so the
// inner loop has no branches.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;

struct P {
  oa: u32, ob: u32, obias: u32, oc: u32,
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  sa: u32, sb: u32, sc: u32,
  alpha: f32, beta: f32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> c: array<T>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= p.M || col0 >= p.N) { return; }
  let abase = p.oa + gid.z * p.sa;
  let bbase = p.ob + gid.z * p.sb;
  var ar: array<u32, 4>;
  var bc: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    let m = min(row0 + i, p.M - 1u);
    let n = min(col0 + i, p.N - 1u);
    if (TRANS_A) { ar[i] = abase + m; } else { ar[i] = abase + m * p.lda; }
    if (TRANS_B) { bc[i] = bbase + n * p.ldb; } else { bc[i] = bbase + n; }
  }
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k = 0u; k < p.K; k++) {
    var av: vec4f;
    var bv: vec4f;
    if (TRANS_A) {
      let o = k * p.lda;
      av = vec4f(f32(a[ar[0] + o]), f32(a[ar[1] + o]), f32(a[ar[2] + o]), f32(a[ar[3] + o]));
    } else {
      av = vec4f(f32(a[ar[0] + k]), f32(a[ar[1] + k]), f32(a[ar[2] + k]), f32(a[ar[3] + k]));
    }
    if (TRANS_B) {
      bv = vec4f(f32(b[bc[0] + k]), f32(b[bc[1] + k]), f32(b[bc[2] + k]), f32(b[bc[3] + k]));
    } else {
      let o = k * p.ldb;
      bv = vec4f(f32(b[bc[0] + o]), f32(b[bc[1] + o]), f32(b[bc[2] + o]), f32(b[bc[3] + o]));
    }
    acc0 += av.x * bv;
    acc1 += av.y * bv;
    acc2 += av.z * bv;
    acc3 += av.w * bv;
  }
  var accs = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  let cbase = p.oc + gid.z * p.sc;
  for (var i = 0u; i < 4u; i++) {
    let m = row0 + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = col0 + j;
      if (n >= p.N) { break; }
      var v = p.alpha * accs[i][j];
      if (HAS_BIAS) { v += f32(bias[p.obias + n]); }
      let ci = cbase + m * p.ldc + n;
      if (p.beta != 0.0) { v += p.beta * f32(c[ci]); }
      c[ci] = T(v);
    }
  }
}
