// im2col for the GEMM route of dense convolutions (conv2d.ts `im2colGemm`): for a chunk of
// images, col[b, r, p] = x[n0 + b, c, oy·S + ky − padY, ox·S + kx − padX] (0 outside), with
// r = (c·KH + ky)·KW + kx (the OIHW weight's row order, so W[K × C·KH·KW] · col[b] = y[b])
// and p = oy·OW + ox, each row padded to P4 = OW·OH rounded up to 4 so that the GEMM can load
// it as vec4 (the pad columns are never stored by the GEMM). Each invocation writes 4
// consecutive pixels of one output row; lanes run along the row, so loads and stores of
// neighbouring lanes are neighbouring addresses.
// Cost (measured 2026-12-04, lavapipe, batch 8, f32): the GEMM alone runs the 1×1 stride-1
// layers (no im2col) at 11–18 GFLOP/s; 3×3 layers through im2col + GEMM at 4.5–7.5, so this
// pass (4 scalar loads + 4 scalar stores per invocation, 2·C·9·P moves per image) costs
// about as much as the GEMM on them. Still 1.6–4.7× tfjs; an implicit GEMM (B fragment
// gathered from x inside the GEMM) would remove it.
override KH: u32 = 3u;
override KW: u32 = 3u;
override S: u32 = 1u;

struct P {
  ox: u32, oc: u32,
  C: u32, H: u32, W: u32, OH: u32, OW: u32,
  padY: i32, padX: i32,
  nxt: u32, R: u32, P4: u32, total: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> col: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= p.total) { return; }
  let xt = t % p.nxt;
  let r1 = t / p.nxt;
  let oy = r1 % p.OH;
  let r2 = r1 / p.OH;
  let r = r2 % p.R;
  let b = r2 / p.R;
  let kx = r % KW;
  let ky = (r / KW) % KH;
  let c = r / (KH * KW);
  let iy = i32(oy * S + ky) - p.padY;
  let rowOk = iy >= 0 && iy < i32(p.H);
  let xb = p.ox + ((b * p.C + c) * p.H + u32(clamp(iy, 0, i32(p.H) - 1))) * p.W;
  let ox0 = xt * 4u;
  let ob = p.oc + (b * p.R + r) * p.P4 + oy * p.OW + ox0;
  let ix0 = i32(ox0 * S + kx) - p.padX;
  for (var j = 0u; j < 4u; j++) {
    if (ox0 + j < p.OW) {
      let ix = ix0 + i32(j * S);
      let v = x[xb + u32(clamp(ix, 0, i32(p.W) - 1))];
      col[ob + j] = select(T(0.0), v, rowOk && ix >= 0 && ix < i32(p.W));
    }
  }
}
