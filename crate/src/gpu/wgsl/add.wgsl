// Residual add: x = sat_i32(x + y), element-wise.

struct Params {
    len: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<i32>;
@group(0) @binding(2) var<storage, read> y: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.len) {
        return;
    }
    let a = x[i];
    let b = y[i];
    let r = a + b; // wraps
    var out = r;
    if (a >= 0 && b >= 0 && r < 0) {
        out = 2147483647;
    } else if (a < 0 && b < 0 && r >= 0) {
        out = -2147483647 - 1;
    }
    x[i] = out;
}
