// Re-arranges an OIHW conv weight for the backward-to-input pass of one stride phase:
//   w'[g·Cig + icl, ocl, ty, tx] = w[g·Cog + ocl, icl, ky0 + S·(TY−1−ty), kx0 + S·(TX−1−tx)]
// so that dX (at that phase) is a stride-1 direct convolution of dY with w' (see conv2d.ts).
struct P { iw: u32, iout: u32, Cin: u32, Cig: u32, Cog: u32, KH: u32, KW: u32,
           TY: u32, TX: u32, ky0: u32, kx0: u32, S: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let T2 = p.TY * p.TX;
  if (i >= p.Cin * p.Cog * T2) { return; }
  let tx = i % p.TX;
  let ty = (i / p.TX) % p.TY;
  let ocl = (i / T2) % p.Cog;
  let ic = i / (T2 * p.Cog);
  let g = ic / p.Cig;
  let icl = ic % p.Cig;
  let ky = p.ky0 + p.S * (p.TY - 1u - ty);
  let kx = p.kx0 + p.S * (p.TX - 1u - tx);
  out[p.iout + i] = w[p.iw + (((g * p.Cog + ocl) * p.Cig + icl) * p.KH + ky) * p.KW + kx];
}
