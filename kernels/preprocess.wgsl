// Turns a batch of uint8 HWC RGB images into normalised NCHW floats on the GPU:
// out[n, c, y, x] = (img[n, y, flip ? W−1−x : x, c] / 255 − mean) / std, with the flip chosen
// per image (random horizontal flip decided on the host, one u32 per image). Bytes are read from
// the packed u32 words of the upload; one invocation per output element.
struct P { oi: u32, ofl: u32, oo: u32, N: u32, H: u32, W: u32, mean: f32, sd: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> img: array<u32>;
@group(0) @binding(2) var<storage, read> flip: array<u32>;
@group(0) @binding(3) var<storage, read_write> o: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let plane = p.H * p.W;
  if (i >= p.N * 3u * plane) { return; }
  let n = i / (3u * plane);
  let r = i - n * 3u * plane;
  let c = r / plane;
  let yx = r - c * plane;
  let y = yx / p.W;
  var x = yx - y * p.W;
  if (flip[p.ofl + n] != 0u) { x = p.W - 1u - x; }
  let byte = p.oi + ((n * p.H + y) * p.W + x) * 3u + c;
  let v = f32((img[byte >> 2u] >> ((byte & 3u) * 8u)) & 0xffu);
  o[p.oo + i] = T((v / 255.0 - p.mean) / p.sd);
}
